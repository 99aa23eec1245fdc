"""REST latency with everything running, and cold start to first answer.

Starts the real action server and Rasa server (as `make run` does, on free
ports), times how long until the first answer arrives, then sends single
messages in new conversations one at a time and prints p50/p95.
Usage: python -m bench.latency [N_MESSAGES]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Dict

from tests.servers import start_servers

QUESTIONS = [
    "can i bring my power bank in checked luggage",
    "is a pocket knife ok in carry on",
    "do i need a real id to fly",
    "how much shampoo can i take on the plane",
    "hello",
    "agent please",
    "can i bring a bottle of wine in my checked bag",
    "how do i make banana bread",
]


def measure(count: int = 200) -> Dict[str, float]:
    """Cold start to first answer (s) and single-message latencies (ms) over `count` messages."""
    with tempfile.TemporaryDirectory() as tmp:
        started = time.monotonic()
        with start_servers(Path(tmp)) as servers:
            servers.say("cold-start", QUESTIONS[0])
            cold = time.monotonic() - started
            for q in QUESTIONS:  # warm every code path once
                servers.say(f"warm-{uuid.uuid4().hex}", q)
            timings = []
            for i in range(count):
                t0 = time.perf_counter()
                servers.say(f"bench-{uuid.uuid4().hex}", QUESTIONS[i % len(QUESTIONS)])
                timings.append((time.perf_counter() - t0) * 1000)
    timings.sort()
    return {
        "cold_start_s": cold,
        "messages": count,
        "p50_ms": statistics.median(timings),
        "p95_ms": timings[int(len(timings) * 0.95) - 1],
        "max_ms": timings[-1],
    }


def main() -> int:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    m = measure(count)
    print(f"cold start (both servers from built artifacts) to first answer: {m['cold_start_s']:.1f} s")
    print(
        f"REST single-message latency over {count} messages: p50 {m['p50_ms']:.1f} ms, "
        f"p95 {m['p95_ms']:.1f} ms, max {m['max_ms']:.1f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
