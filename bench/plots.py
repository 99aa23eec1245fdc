"""PNG figures for bench/RESULTS.md (matplotlib, no display needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

Curve = Sequence[Tuple[float, float]]


def tradeoff(
    title: str,
    curves: Dict[str, Curve],
    points: Dict[str, Tuple[float, float]],
    out: Path,
    references: Dict[str, Tuple[float, float]] | None = None,
    limits: Tuple[float, float] = (0.0, 0.0),
) -> None:
    """In-scope accuracy (y) against out-of-scope recall (x), one curve per threshold sweep.

    A point named like a curve is drawn in that curve's colour (its chosen
    operating point); other points get their own legend entry. ``limits`` are
    the lowest x and y shown.
    """
    fig, ax = plt.subplots(figsize=(8, 5.5))
    colours: Dict[str, str] = {}
    for name, curve in curves.items():
        (line,) = ax.plot([p[1] for p in curve], [p[0] for p in curve], label=name, linewidth=1.4)
        colours[name] = line.get_color()
    markers = ["o", "s", "^", "D", "v", "P", "X", "*"]
    for i, (name, (acc, recall)) in enumerate(points.items()):
        if name in colours:
            ax.scatter([recall], [acc], marker="o", s=60, zorder=3, color=colours[name], edgecolor="black")
        else:
            ax.scatter([recall], [acc], marker=markers[i % len(markers)], s=90, zorder=3, label=name,
                       color="black")  # fmt: skip
    for name, (acc, recall) in (references or {}).items():
        ax.scatter([recall], [acc], marker="x", s=50, color="grey", zorder=3)
        ax.annotate(name, (recall, acc), fontsize=7, xytext=(4, -10), textcoords="offset points")
    ax.set_xlabel("out-of-scope recall (no answer given)")
    ax.set_ylabel("in-scope top-1 accuracy (answered, right entry)")
    ax.set_xlim(limits[0], 1.01)
    ax.set_ylim(limits[1], 1.01)
    ax.grid(alpha=0.3)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def _family(row: Dict[str, object]) -> str:
    """Rows of one index set-up across sizes (an IVF's list count grows with the size)."""
    if "nprobe" in row:
        return f"IVF, nprobe={row['nprobe']}"
    return str(row["index"])


def scale_latency(rows: List[Dict[str, object]], out: Path) -> None:
    """p95 single-query latency against corpus size, one line per index set-up."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for family in sorted({_family(r) for r in rows}):
        mine = sorted((r for r in rows if _family(r) == family), key=lambda r: int(str(r["n"])))
        ax.plot([r["n"] for r in mine], [r["p95_ms"] for r in mine], marker="o", label=family)
    ax.axhline(5.0, color="grey", linestyle="--", linewidth=1, label="goal: 5 ms")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("vectors in the index")
    ax.set_ylabel("p95 wall-clock search latency, top-10 (ms)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
