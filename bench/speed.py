"""Speed figures for the report: index build from scratch, and REST latency.

The index is built into a temporary directory (the real one in var/index is
left alone), timing the same `load_or_build` that `travelbot index` runs. The
REST figures come from bench/latency.py (both real servers on free ports).
Usage: python -m bench.speed [N_MESSAGES]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from bench import latency
from bench.results import save
from knowledge.base import load_or_build
from knowledge.index import EntryIndex


def index_build_seconds() -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        started = time.monotonic()
        kb = load_or_build(Path(tmp) / "index", progress=False, force=True)
        seconds = time.monotonic() - started
    texts = EntryIndex.rows_for(kb.corpus)[0]
    return {"index_build_s": seconds, "entries": len(kb.corpus), "rows": len(texts)}


def main() -> int:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    build = index_build_seconds()
    print(f"index build from scratch: {build['index_build_s']:.1f} s ({build['rows']} texts)", flush=True)
    rest = latency.measure(count)
    print(
        f"REST: cold start {rest['cold_start_s']:.1f} s, "
        f"p50 {rest['p50_ms']:.1f} ms, p95 {rest['p95_ms']:.1f} ms"
    )
    save("speed", {**build, "rest": rest})
    return 0


if __name__ == "__main__":
    sys.exit(main())
