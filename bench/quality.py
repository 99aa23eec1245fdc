"""Answer quality on the dev set through the full decision path (`travelbot ask`).

Prints top-1 accuracy on in-scope questions, no-answer recall per out-of-scope
kind and wrong confident answers. Usage: python -m bench.quality [DEV_JSONL]
"""

from __future__ import annotations

import collections
import json
import sys
import time
from pathlib import Path

from travelbot.asker import Asker
from travelbot.settings import ROOT

DEFAULT_DEV = ROOT.parent / "shared" / "eval" / "dev.jsonl"


def main() -> int:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_DEV
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    asker = Asker.load()
    known = set(asker.policy.kb.corpus.by_id)
    counts: collections.Counter = collections.Counter()
    latencies = []
    for row in rows:
        started = time.perf_counter()
        result = asker.ask(row["q"])
        latencies.append((time.perf_counter() - started) * 1000)
        answered = result["decision"] == "answer"
        if row["expect"] == "no_answer":
            kind = row.get("kind", "other")
            counts[f"oos:{kind}"] += 1
            counts[f"oos_ok:{kind}"] += not answered
            counts["wrong"] += answered
            continue
        if not any(e in known for e in row["expect"]):
            counts["in_not_in_corpus"] += 1
            continue
        counts["in"] += 1
        correct = answered and result["entry_id"] in row["expect"]
        counts["in_ok"] += correct
        counts["wrong"] += answered and not correct
        counts[f"in_{result['decision']}"] += 1
    oos_total = sum(v for k, v in counts.items() if k.startswith("oos:"))
    oos_ok = sum(v for k, v in counts.items() if k.startswith("oos_ok:"))
    latencies.sort()
    print(f"dev set: {path} ({len(rows)} questions)")
    print(
        f"in-scope top-1 correct:   {counts['in_ok']}/{counts['in']} = {counts['in_ok'] / counts['in']:.1%}"
    )
    print(
        "  in-scope decisions:     "
        + ", ".join(f"{d} {counts[f'in_{d}']}" for d in ("answer", "clarify", "handoff", "decline"))
    )
    print(f"out-of-scope no answer:   {oos_ok}/{oos_total} = {oos_ok / max(1, oos_total):.1%}")
    for key in sorted(k for k in counts if k.startswith("oos:")):
        kind = key[4:]
        print(f"  {kind:<24} {counts['oos_ok:' + kind]}/{counts[key]}")
    print(f"wrong confident answers:  {counts['wrong']}/{len(rows)} = {counts['wrong'] / len(rows):.1%}")
    print(
        f"decision latency (ms):    p50 {latencies[len(latencies) // 2]:.1f}, "
        f"p95 {latencies[int(len(latencies) * 0.95)]:.1f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
