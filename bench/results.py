"""Where benchmark scripts leave their figures for bench/report.py (var/, not committed)."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from typing import Any, Dict, Optional

from travelbot.settings import ROOT

BENCH_DIR = ROOT / "bench"
VAR = ROOT / "var" / "bench"
RESULTS = VAR / "results"


def save(name: str, data: Dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    stamped = {
        **data,
        "measured_at": time.strftime("%Y-%m-%d %H:%M:%S"),
        "machine": machine(),
        "load_average": os.getloadavg()[0],  # other jobs on a shared machine inflate wall-clock times
        "commit": commit(),
    }
    path.write_text(json.dumps(stamped, indent=1), encoding="utf-8")
    return path


def load(name: str) -> Optional[Dict[str, Any]]:
    path = RESULTS / f"{name}.json"
    if not path.exists():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"


def commit() -> str:
    """The checkout's commit (read only), marked '+changes' when the work tree differs from it."""
    import subprocess

    def git(*args: str) -> str:
        run = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
        return run.stdout.strip()

    head = git("rev-parse", "--short", "HEAD") or "unknown"
    return head + ("+changes" if git("status", "--porcelain", "--untracked-files=no") else "")
