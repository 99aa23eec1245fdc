"""Write bench/RESULTS.md from the figures the benchmark scripts saved in var/bench/results/.

Never edit RESULTS.md by hand: rerun `make bench` (or the scripts, then this).
Usage: python -m bench.report
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence

from bench import plots, results
from bench.results import BENCH_DIR

OUT = BENCH_DIR / "RESULTS.md"


def table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> List[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return [*lines, ""]


def pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def frac(num: int, den: int) -> str:
    return f"{num}/{den} ({pct(num / den) if den else '-'})"


HELD_OUT_NOTE = [
    "bench/heldout.jsonl: traveler questions written for this project by writers who read the corpus but "
    "saw neither the shared dev set nor the bot's answers: long messages with trip context, brand names, "
    "typos, non-native English, very short ones, and ten out-of-scope lines of each kind. Its labels are "
    "stricter than the dev set's (an entry that touches the question only in passing does not count). The "
    "entries' chat phrasings (traveler-style questions, also the scope classifier's long-message "
    "examples) were written to a similar brief afterwards; every one within cosine 0.80 of a question here "
    "was dropped, but the two share a style, so this set flatters us somewhat more than truly unseen "
    "questions would. Its scores "
    "were also looked at when choosing between designs (the n-gram scope classifier and the distinctive-word "
    "rerank were kept, a file of 409 topic examples was dropped for adding wrong answers here), though every "
    "threshold and weight was chosen on the dev set and CLINC150 val.",
    "",
]


def missing(command: str) -> List[str]:
    return [f"_Not measured yet: run `{command}`, then `python -m bench.report`._", ""]


def stamp(data: Dict[str, Any]) -> str:
    load = data.get("load_average")
    busy = f" (1-minute load average {load:.1f} when saved: a shared machine)" if load is not None else ""
    at = f", checkout {data['commit']}" if data.get("commit") else ""
    return f"_Measured {data['measured_at']} on {data['machine']}{at}{busy}._"


def dev_section(
    data: Optional[Dict[str, Any]],
    heading: str = "1. Answer quality on the dev set",
    command: str = "",
    note: Sequence[str] = (),
) -> List[str]:
    out = [f"## {heading}, side by side", ""]
    if data is None:
        return out + missing(command or "python -m bench.compare")
    systems = data["systems"]
    kinds = sorted({k for s in systems for k in s["metrics"]["oos_total"]})
    first = systems[0]["metrics"]
    plots.tradeoff(
        f"{Path(data['dev_path']).name}: each peer as its threshold moves (dots: the threshold best on it)",
        {s["name"]: [(c[1], c[2]) for c in s["curve"]] for s in systems if "curve" in s},
        {s["name"]: (s["metrics"]["in_accuracy"], s["metrics"]["oos_recall"]) for s in systems},
        BENCH_DIR / data["plot"],
    )
    out += [
        stamp(data),
        "",
        f"{data['dev_path']}: {data['rows']} questions ({first['in_total']} in-scope that the corpus "
        f"covers, {first['skipped_not_in_corpus']} in-scope whose entry is not in the corpus — skipped, "
        f"{sum(first['oos_total'].values())} out-of-scope); corpus of {data['entries']} entries. "
        "Top-1 correct: answered with an expected entry (clarify, handoff, decline or a score under the "
        "threshold count as not correct). Wrong confident answers: answered with a wrong entry, or answered "
        "an out-of-scope line, over all scored lines. Latency: one question at a time, in-process.",
        "",
    ]

    def rows(key: str) -> Iterable[List[object]]:
        for s in systems:
            if key not in s:
                continue
            m = s[key]
            threshold = "policy (travelbot.yml)" if s["threshold"] is None else f"{s['threshold']:.3f}"
            if key == "cross_fitted":
                threshold = "other half's best"
            yield [
                s["name"],
                threshold,
                frac(m["in_correct"], m["in_total"]),
                frac(m["wrong"], m["total"]),
                frac(sum(m["oos_no_answer"].values()), sum(m["oos_total"].values())),
                *(f"{m['oos_no_answer'].get(k, 0)}/{m['oos_total'].get(k, 0)}" for k in kinds),
                f"{m['p50_ms']:.1f} / {m['p95_ms']:.1f}",
            ]

    header = ["system", "threshold", "in-scope top-1 correct", "wrong confident answers",
              "no-answer recall (out-of-scope)", *kinds, "latency p50 / p95 (ms)"]  # fmt: skip
    out += table(header, rows("metrics"))
    out += [
        "How the thresholds were chosen: ours are the decision policy's settings as checked out "
        "(`travelbot.yml`, `knowledge/policy.py`); nothing here tunes them. Each peer's threshold is the one "
        "with the best balanced score (mean of in-scope top-1 accuracy and out-of-scope no-answer recall) "
        "**on this same set**, so the peer rows above are optimistic for the peers. Below, an honest "
        "counterpart: 2-fold cross-fitting (even lines get the threshold that was best on odd lines, and "
        "the other way round).",
        "",
    ]
    out += table(header, rows("cross_fitted"))
    ceilings = ", ".join(f"{s['name']} {pct(s['curve'][0][1])}" for s in systems if "curve" in s)
    out += [f"Each peer's ceiling, in-scope top-1 if it answered every question it ranks: {ceilings}.", ""]
    decisions = first.get("decisions") or {}
    if decisions:
        parts = ", ".join(f"{k} {v}" for k, v in sorted(decisions.items()))
        out += [f"Our decisions on the in-scope lines: {parts}.", ""]
    out += [
        f"The Rasa peer: DIET + ResponseSelector ({data['epochs']} epochs each; Rasa's default is 300, too "
        "long for this benchmark on 2 cores), retrieval intent "
        "`faq/<entry_id>` on the same texts, plus the bot's own small-talk and out_of_scope intents; "
        f"training took {data['rasa_train']['cpu_s']:.0f} s of CPU ({data['rasa_train']['wall_s']:.0f} s "
        "wall-clock). It answers when DIET picks `faq` and the "
        "selector's confidence reaches the threshold.",
        "",
        f"![trade-off on {Path(data['dev_path']).name}]({data['plot']})",
        "",
        "Curves: each peer as its threshold moves from answering everything (left) to answering nothing "
        "(right); markers: the operating points in the first table.",
        "",
        *note,
    ]
    return out


GOAL_OOS_RECALL = 0.90  # issue 8: in-scope accuracy >= 95 % at this out-of-scope recall


def accuracy_at_recall(curve: Sequence[Sequence[float]], recall: float) -> float:
    """Best in-scope accuracy among the curve's thresholds with at least this OOS recall."""
    return max((acc for acc, r in curve if r >= recall), default=0.0)


def clinc_section(data: Optional[Dict[str, Any]]) -> List[str]:
    out = ["## 2. CLINC150 through our retrieval layer", ""]
    if data is None:
        return out + missing("python -m bench.clinc")
    out += [
        stamp(data),
        "",
        f"CLINC150 full ({data['classes']} intents; Larson et al., EMNLP 2019, CC BY 3.0). Corpus: the train "
        "split, each utterance a phrasing of its intent, embedded with our MiniLM (knowledge/embedder.py). "
        "Every knob (k, C, alpha) and every threshold is chosen on val + oos_val only, by the best mean of "
        "in-scope accuracy and OOS recall; test and oos_test are scored once.",
        "",
    ]
    plots.tradeoff(
        "CLINC150 test as each threshold moves (dots: thresholds chosen on val; x: Larson et al. 2019)",
        {v["name"]: v["curve"] for v in data["variants"] if v["curve"]},
        {v["name"]: (v["test"][0], v["test"][1]) for v in data["variants"]},
        BENCH_DIR / data["plot"],
        {k: (a / 100, b / 100) for k, (a, b) in data["paper"].items()},
        limits=(0.2, 0.5),
    )
    rows = [
        [
            v["name"],
            f"{pct(v['val'][0])} / {pct(v['val'][1])}",
            pct(v["test"][0]),
            pct(v["test"][1]),
            pct(accuracy_at_recall(v["curve"], 0.5)) if v["curve"] else "",
            pct(accuracy_at_recall(v["curve"], GOAL_OOS_RECALL)) if v["curve"] else "",
        ]
        for v in data["variants"]
    ]
    rows += [[f"paper: {k}", "", f"{a:.1f}%", f"{b:.1f}%", "", ""] for k, (a, b) in data["paper"].items()]
    header = ["scoring", "val in-scope / OOS", "test in-scope accuracy", "oos_test recall",
              "test in-scope accuracy at 50% OOS recall (read off the curve)",
              "the same at 90% OOS recall"]  # fmt: skip
    out += table(header, rows)
    out += [
        "Paper rows: Larson et al. 2019, Table 2 (full data): oos-train trains an extra OOS class on "
        "oos_train, oos-threshold uses a confidence threshold. They run at 30-52% OOS recall; the fifth "
        "column shows our variants near that operating point, and the last one at the 90% OOS recall of "
        "issue 8's goal (in-scope >= 95% there), both read off the test curves (descriptive only: those "
        "thresholds are not chosen on val).",
        "",
        f"![CLINC150 trade-off]({data['plot']})",
        "",
    ]
    return out


def scale_section(data: Optional[Dict[str, Any]], extra: Optional[Dict[str, Any]]) -> List[str]:
    out = ["## 3. Retrieval at scale", ""]
    if data is None:
        return out + missing("python -m bench.scale")
    out += [
        stamp(data),
        "",
        f"Synthetic corpora of 384-dim unit vectors: perturbed copies of our {data['base_vectors']} real "
        f"phrasing embeddings (noise norm {data['noise']}, cosine to the source about 0.86). Latency: "
        f"top-10 search, one query at a time on one thread, {data['timed']} queries; the CPU-time column "
        "is that thread's own time (the machine is shared, so wall-clock p95 includes waits for a core). "
        f"Recall@10 against the exact flat search, {data['queries']} queries. Size: the index's vectors, "
        "links and ids. Goal: p95 <= 5 ms at 100k.",
        "",
    ]
    header = [
        "vectors",
        "index",
        "build (s)",
        "size (MB)",
        "p50 (ms)",
        "p95 (ms)",
        "p95 CPU (ms)",
        "recall@10",
    ]
    for d in (data, extra):
        if d is None:
            continue
        if d is extra:
            out += [
                "Uniform random directions instead (no cluster structure; the hard case for HNSW/IVF):",
                "",
            ]
        out += table(
            header,
            (
                [
                    f"{r['n']:,}",
                    r["index"],
                    f"{r['build_s']:.1f}",
                    f"{r['size_mb']:.0f}",
                    f"{r['p50_ms']:.2f}",
                    f"{r['p95_ms']:.2f}",
                    f"{r['p95_cpu_ms']:.2f}",
                    f"{r['recall_at_10']:.3f}",
                ]
                for r in d["rows"]
            ),
        )
    largest = max(r["n"] for r in data["rows"])
    out += [
        f"At {largest:,} vectors each real embedding has about {largest // data['base_vectors']} perturbed "
        "copies, so the exact top 10 is a near-tie among copies of one source. IVF keeps such a cluster in "
        "one cell; HNSW's graph (M links a node) can miss members of a dense cluster of near-duplicates. "
        "Uniform random directions are the opposite extreme: in 384 dimensions every point is almost "
        "equally far from every other, so no approximate index finds the exact top 10 cheaply. Real "
        "corpora sit between the two.",
        "",
    ]
    at_100k = [r for r in data["rows"] if r["n"] == 100_000]
    if at_100k:
        met = [f"{r['index']} (recall@10 {r['recall_at_10']:.3f})" for r in at_100k if r["p95_ms"] <= 5.0]
        out += [f"Goal at 100k, p95 <= 5 ms wall-clock: met by {', '.join(met) or 'none'}.", ""]
    plots.scale_latency(data["rows"], BENCH_DIR / data["plot"])
    out += [f"![latency vs size]({data['plot']})", ""]
    return out


def speed_section(data: Optional[Dict[str, Any]]) -> List[str]:
    out = ["## 4. Speed of the running assistant", ""]
    if data is None:
        return out + missing("python -m bench.speed")
    rest = data["rest"]
    out += [stamp(data), ""]
    out += table(
        ["figure", "value"],
        [
            [
                "index build from scratch (`load_or_build`, force)",
                f"{data['index_build_s']:.1f} s for {data['entries']} entries, {data['rows']} texts",
            ],
            [
                "cold start, both servers from built artifacts, to first answer",
                f"{rest['cold_start_s']:.1f} s",
            ],
            [
                f"REST single-message latency over {rest['messages']} messages",
                f"p50 {rest['p50_ms']:.1f} ms, p95 {rest['p95_ms']:.1f} ms, max {rest['max_ms']:.1f} ms",
            ],
        ],
    )
    return out


def load_section(data: Optional[Dict[str, Any]], paced: bool = False) -> List[str]:
    title = "Load at a set pace" if paced else "Load: concurrent conversations"
    out = [f"## {'5b' if paced else '5'}. {title}, side by side with a bare Rasa bot", ""]
    if data is None:
        return out + missing(
            "python -m bench.load" + (" --rate 60 --messages 20 --name load-paced" if paced else "")
        )
    t = data["targets"]
    if data.get("rate"):
        every = data["conversations"] / data["rate"]
        how = (
            f"paced at {data['rate']:.0f} messages/s in all: each conversation sends a message every "
            f"{every:.2f} s, never before its previous reply is in"
        )
    else:
        how = (
            "the next as soon as the reply is in, so the latency is the wait of N conversations sharing "
            "the servers and the throughput is the capacity"
        )
    out += [
        stamp(data),
        "",
        f"{data['conversations']} conversations at once, {data['messages_per_conversation']} messages "
        f"each ({how}; {data['distinct_messages']} distinct screening questions; the per-sender rate "
        "limit raised for the run, since these senders type faster than any traveler), "
        "driven by an asyncio client (bench/load.py). Ours: the action server and Rasa server as "
        "`make run` starts them (embedded mode: SQLite tracker, in-memory lock), the SMS phase through the "
        "signed Twilio webhook with Twilio's API replaced by a local stand-in, so every reply is really "
        "sent. Bare: `rasa init --no-prompt` (default pipeline, the mood bot, in-memory tracker store) "
        "served by `rasa run` on the same machine in the same run, the same messages over its REST channel. "
        "One phase at a time, all servers up. Lost: a REST turn answered with no message, or an SMS webhook "
        "call after which the Twilio API got no message; dup: more than one. CPU time per message: each "
        "server's user + system CPU seconds over the phase divided by its messages (all servers are listed "
        "in every phase; an idle one uses almost none). Peak RSS: each server process with its children.",
        "",
    ]
    rows = [
        [
            p["name"],
            f"{p['p50_ms']:.0f} / {p['p95_ms']:.0f} / {p['p99_ms']:.0f}" if p["p50_ms"] is not None else "-",
            f"{p['throughput']:.1f}",
            p["errors"],
            f"{p['lost']} / {p['duplicates']}",
            ", ".join(f"{k} {v:.0f}" for k, v in p.get("cpu_ms_per_message", {}).items()),
            ", ".join(f"{k} {v:.0f}" for k, v in p["rss_mb"].items()),
        ]
        for p in data["phases"]
    ]
    header = ["phase", "latency p50 / p95 / p99 (ms)", "messages/s", "errors", "lost / dup",
              "CPU time per message (ms)", "peak RSS (MB)"]  # fmt: skip
    out += table(header, rows)
    empty = [f"{p['name']}: " + ", ".join(f'"{k}" x{v}' for k, v in p["empty_for"].items())
             for p in data["phases"] if p.get("empty_for")]  # fmt: skip
    if empty:
        bare = any(e.startswith("bare") for e in empty)
        why = (
            " For the bare bot that is the mood bot's own policy choosing to say nothing to a message its "
            "stories do not cover, not a failure of the server."
        )
        out += [f"Messages answered with an empty turn (counted as lost above): {'; '.join(empty)}."
                + (why if bare else ""), ""]  # fmt: skip
    met = [(p["name"], k, ok) for p in data["phases"] for k, ok in p.get("targets_met", {}).items()]
    missed = [f"{name}: {k}" for name, k, ok in met if not ok]
    out += [
        f"Targets for ours (embedded mode, 2 cores): p50 <= {t['p50_ms']:.0f} ms, "
        f"p95 <= {t['p95_ms']:.0f} ms, >= {t['throughput']:.0f} messages/s, 0 errors, 0 lost replies. "
        "Missed: " + ("; ".join(missed) if missed else "none") + ".",
        "",
    ]
    return out


def main() -> int:
    lines = [
        "# Benchmark results",
        "",
        "Generated by `make bench` (bench/report.py): do not edit by hand. Scripts: bench/compare.py, "
        "bench/clinc.py, bench/scale.py, bench/speed.py, bench/load.py. Thresholds of the product are never "
        "tuned here: every script runs whatever is in the checkout.",
        "",
        "The machine is a 2-CPU box shared with other jobs. Where a section shows a load average well above "
        "2, its wall-clock latencies and build/training times include waiting for a CPU and overstate what "
        "an idle machine does; the CPU-time column of section 3 is not affected.",
        "",
    ]
    lines += dev_section(results.load("dev"))
    lines += dev_section(
        results.load("heldout"),
        "1b. Answer quality on our held-out traveler questions",
        "python -m bench.compare bench/heldout.jsonl --name heldout",
        HELD_OUT_NOTE,
    )
    lines += clinc_section(results.load("clinc"))
    lines += scale_section(results.load("scale"), results.load("scale_random"))
    lines += speed_section(results.load("speed"))
    lines += load_section(results.load("load"))
    lines += load_section(results.load("load-paced"), paced=True)
    OUT.write_text("\n".join(lines), encoding="utf-8")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
