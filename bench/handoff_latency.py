"""Handoff-to-first-agent-view latency, with every process running as `make run` starts them.

For each of N new conversations: a traveler asks for a person on the REST
channel; we time (a) the webhook round trip (NLU, action, handoff stored,
traveler told what happens next) and (b) from sending until the staff
console's inbox API, polled every 20 ms by a signed-in agent, lists the
handoff. The inbox page polls that API every ``console.poll_interval_s``
(2 s by default), which adds at most that much on screen.
Usage: python -m bench.handoff_latency [N]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Dict, List

import sqlalchemy as sa

from tests.console_client import Agent
from tests.servers import start_servers
from travelbot.settings import ConsoleSettings
from travelbot.users import UserStore

PASSWORD = "bench-password-123"


def percentile(values: List[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def measure(count: int = 20) -> Dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp, start_servers(Path(tmp), console=True) as servers:
        assert servers.console_url
        UserStore(sa.create_engine(f"sqlite:///{servers.handoff_db}", future=True)).add(
            "bench", PASSWORD, "agent"
        )
        agent = Agent(servers.console_url, "bench", PASSWORD)
        agent.login()
        servers.say("warm-up", "can i bring my power bank in checked luggage")
        webhook_ms: List[float] = []
        visible_ms: List[float] = []
        for _ in range(count):
            sender = f"bench-{uuid.uuid4().hex[:12]}"
            started = time.perf_counter()
            servers.say(sender, "i want to talk to a human")
            webhook_ms.append((time.perf_counter() - started) * 1000)
            while agent.case_for(sender) is None:
                time.sleep(0.02)
            visible_ms.append((time.perf_counter() - started) * 1000)
    return {
        "n": count,
        "webhook_p50_ms": statistics.median(webhook_ms),
        "webhook_p95_ms": percentile(webhook_ms, 0.95),
        "inbox_api_p50_ms": statistics.median(visible_ms),
        "inbox_api_p95_ms": percentile(visible_ms, 0.95),
        "page_poll_interval_ms": ConsoleSettings().poll_interval_s * 1000,
    }


def main() -> int:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    result = measure(count)
    print(
        f"handoff -> first agent view over {result['n']} handoffs: "
        f"traveler's webhook p50 {result['webhook_p50_ms']:.0f} ms / p95 {result['webhook_p95_ms']:.0f} ms; "
        f"listed by the inbox API p50 {result['inbox_api_p50_ms']:.0f} ms / "
        f"p95 {result['inbox_api_p95_ms']:.0f} ms; "
        f"the open inbox page adds up to {result['page_poll_interval_ms']:.0f} ms (its poll interval)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
