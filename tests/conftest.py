"""Shared fixtures: the real knowledge base, and real running servers.

Nothing here is a stand-in: the policy uses the real MiniLM model and FAISS
index, and the servers are the real Rasa server (trained model) and action
server, started on free ports with a throw-away SQLite tracker and handoff db.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, Iterator

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from knowledge.policy import Policy
from tests.servers import Servers, start_servers
from travelbot import runtime
from travelbot.settings import ROOT

SHARED = ROOT.parent / "shared"
# Short, vague questions; the clarify_question fixture takes the first the bot answers with a choice.
AMBIGUOUS = [
    "what about batteries",
    "how about batteries",
    "what about spray",
    "how about chocolate",
    "how about pet food",
    "what about chocolate",
    "rules for curling irons",
]


@pytest.fixture(scope="session")
def policy() -> Policy:
    return runtime.policy()


@pytest.fixture(scope="session")
def dev_set_path() -> Path:
    path = SHARED / "eval" / "dev.jsonl"
    if not path.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{path} is missing: CI must run with shared/ beside the checkout")
        pytest.skip(f"{path} not present (shared/ is not beside this checkout)")
    return path


@pytest.fixture(scope="session")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    workdir = tmp_path_factory.mktemp("servers")
    with start_servers(workdir) as running:
        yield running


@pytest.fixture(scope="session")
def clarify_question() -> Dict[str, Any]:
    """The first candidate that `travelbot ask` (same decision as the bot) answers with a choice."""
    travelbot = Path(sys.executable).parent / "travelbot"
    done = subprocess.run(
        [str(travelbot), "ask", "--json"],
        input="\n".join(AMBIGUOUS) + "\n",
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert len(results) == len(AMBIGUOUS), done.stdout
    for question, result in zip(AMBIGUOUS, results, strict=True):
        if result["decision"] == "clarify":
            return {"question": question, **result}
    pytest.fail(f"none of {AMBIGUOUS} is answered with a clarify any more: pick new candidates")
