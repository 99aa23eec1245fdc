"""The editors' dashboard: how travelers use the bot, as PNG charts with their numbers as CSV.

Charts are drawn on the server with matplotlib (the CSP allows images from this
site only) on a fresh ``Figure`` per request with the Agg canvas: pyplot's
global state is not safe in the console's threaded server. Each chart is one
table of numbers (``Chart.table``); the PNG draws that table and the CSV is
that table, so the two never disagree. Traveler words only appear in the
"unanswered" chart and CSV, redacted, and CSV cells that a spreadsheet would
run as a formula are prefixed with an apostrophe.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import textwrap
from dataclasses import dataclass
from typing import Callable, Dict, List, Sequence, Tuple, Union

from flask import Blueprint, Flask, Response, abort, render_template
from flask.typing import ResponseReturnValue
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from console.review import editors_only, queue, window_days
from travelbot.conversation_log import ConversationLog
from travelbot.review_queue import ReviewQueue

bp = Blueprint("dashboard", __name__)
bp.before_request(editors_only)
Cell = Union[str, int, float]
COLORS = {"urgent": "#c0392b", "not urgent": "#5d7f99", "not helpful": "#c0392b", "helpful": "#2e86c1"}
TOP_CLUSTERS = 10
TOP_ENTRIES = 15
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Table:
    header: Tuple[str, ...]
    rows: List[Tuple[Cell, ...]]


def register(app: Flask) -> None:
    """Needs the review queue registered first (console.review.register)."""
    app.register_blueprint(bp)


def _days(since: dt.datetime, log: ConversationLog) -> List[dt.date]:
    first, last = since.date(), log.day(dt.datetime.now(dt.timezone.utc))
    return [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]


def channels_table(review: ReviewQueue, since: dt.datetime) -> Table:
    rows = [(c.day.isoformat(), c.channel, c.conversations) for c in review.log.per_channel_per_day(since)]
    return Table(("day", "channel", "conversations"), list(rows))


def containment_table(review: ReviewQueue, since: dt.datetime) -> Table:
    rows = [
        (c.day.isoformat(), c.conversations, c.contained, round(c.rate, 4))
        for c in review.log.containment(since)
    ]
    return Table(("day", "conversations", "answered_without_handoff", "containment"), list(rows))


def handoffs_table(review: ReviewQueue, since: dt.datetime) -> Table:
    rows = [(r.reason, r.handoffs, r.urgent) for r in review.log.handoffs_by_reason(since)]
    return Table(("reason", "handoffs", "urgent"), list(rows))


def unanswered_table(review: ReviewQueue, since: dt.datetime) -> Table:
    top = review.clusters(since)[:TOP_CLUSTERS]
    rows = [
        (n, c.size, c.newest.isoformat(timespec="seconds"), c.label, " ".join(e for e, _ in c.entries))
        for n, c in enumerate(top, start=1)
    ]
    return Table(("rank", "questions", "last_asked", "example", "entries_considered"), list(rows))


def feedback_table(review: ReviewQueue, since: dt.datetime) -> Table:
    rows = [(f.entry_id, f.helpful, f.not_helpful) for f in review.log.feedback_by_entry(since)]
    return Table(("entry_id", "helpful", "not_helpful"), list(rows))


def _empty(ax: Axes, what: str) -> None:
    ax.text(0.5, 0.5, f"No {what} in this period.", ha="center", va="center")
    ax.set_axis_off()


def _date_axis(ax: Axes, days: List[dt.date]) -> None:
    """The whole window on the x axis, a tick per day or fewer, whole numbers on the y axis."""
    locator = AutoDateLocator(maxticks=12)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    ax.set_xlim(days[0] - dt.timedelta(hours=18), days[-1] + dt.timedelta(hours=18))


def draw_channels(fig: Figure, table: Table, since: dt.datetime, log: ConversationLog) -> None:
    ax = fig.subplots()
    if not table.rows:
        return _empty(ax, "conversations")
    days = _days(since, log)
    bottom = [0] * len(days)
    for channel in sorted({str(r[1]) for r in table.rows}):
        counts = {str(r[0]): int(r[2]) for r in table.rows if r[1] == channel}
        heights = [counts.get(d.isoformat(), 0) for d in days]
        ax.bar(days, heights, bottom=bottom, label=channel, width=0.8)
        bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
    _date_axis(ax, days)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("conversations")
    ax.legend(loc="upper left", fontsize="small")


def draw_containment(fig: Figure, table: Table, since: dt.datetime, log: ConversationLog) -> None:
    ax = fig.subplots()
    if not table.rows:
        return _empty(ax, "conversations")
    days = [dt.date.fromisoformat(str(r[0])) for r in table.rows]
    ax.plot(days, [100 * float(r[3]) for r in table.rows], marker="o")
    ax.set_ylim(0, 105)
    ax.set_ylabel("% answered without a person")
    _date_axis(ax, _days(since, log))
    total = sum(int(r[1]) for r in table.rows)
    contained = sum(int(r[2]) for r in table.rows)
    ax.set_title(f"{contained} of {total} conversations ({100 * contained / total:.0f}%)", fontsize="medium")


def _barh(fig: Figure, labels: Sequence[str], series: Dict[str, List[int]], xlabel: str) -> None:
    ax = fig.subplots()
    positions = list(range(len(labels)))[::-1]  # first row at the top
    left = [0] * len(labels)
    for name, values in series.items():
        ax.barh(positions, values, left=left, label=name, color=COLORS.get(name))
        left = [a + b for a, b in zip(left, values, strict=True)]
    ax.set_yticks(positions)
    ax.set_yticklabels(labels, fontsize="small")
    ax.set_xlabel(xlabel)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if len(series) > 1:
        ax.legend(loc="lower right", fontsize="small")


def draw_handoffs(fig: Figure, table: Table, since: dt.datetime, log: ConversationLog) -> None:
    if not table.rows:
        return _empty(fig.subplots(), "handoffs")
    urgent = [int(r[2]) for r in table.rows]
    other = [int(r[1]) - u for r, u in zip(table.rows, urgent, strict=True)]
    _barh(fig, [str(r[0]) for r in table.rows], {"urgent": urgent, "not urgent": other}, "handoffs")


def draw_unanswered(fig: Figure, table: Table, since: dt.datetime, log: ConversationLog) -> None:
    if not table.rows:
        return _empty(fig.subplots(), "unanswered questions")
    labels = [textwrap.shorten(str(r[3]), 48, placeholder="…") for r in table.rows]
    _barh(fig, labels, {"questions": [int(r[1]) for r in table.rows]}, "times asked")


def draw_feedback(fig: Figure, table: Table, since: dt.datetime, log: ConversationLog) -> None:
    rows = table.rows[:TOP_ENTRIES]
    if not rows:
        return _empty(fig.subplots(), "votes")
    series = {"not helpful": [int(r[2]) for r in rows], "helpful": [int(r[1]) for r in rows]}
    _barh(fig, [str(r[0]) for r in rows], series, "votes")


@dataclass(frozen=True)
class Chart:
    title: str
    description: str  # also the image's alt text
    table: Callable[[ReviewQueue, dt.datetime], Table]
    draw: Callable[[Figure, Table, dt.datetime, ConversationLog], None]


CHARTS: Dict[str, Chart] = {
    "channels": Chart(
        "Conversations per channel per day",
        "Stacked bars: conversations started each day, by channel.",
        channels_table,
        draw_channels,
    ),
    "containment": Chart(
        "Containment",
        "Line: share of each day's conversations the bot answered without handing to a person.",
        containment_table,
        draw_containment,
    ),
    "handoffs": Chart(
        "Handoffs by reason", "Bars: handoffs per reason, urgent ones first.", handoffs_table, draw_handoffs
    ),
    "unanswered": Chart(
        "Top unanswered question groups",
        f"Bars: the {TOP_CLUSTERS} most asked groups of questions from the review queue.",
        unanswered_table,
        draw_unanswered,
    ),
    "feedback": Chart(
        "Feedback by entry",
        f"Stacked bars: helpful and not helpful votes for the {TOP_ENTRIES} most voted entries.",
        feedback_table,
        draw_feedback,
    ),
}


def _chart(name: str) -> Chart:
    if name not in CHARTS:
        abort(404, f"no chart {name!r}")
    return CHARTS[name]


def png(chart: Chart, table: Table, since: dt.datetime, log: ConversationLog) -> bytes:
    fig = Figure(figsize=(9, 4), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    chart.draw(fig, table, since, log)
    fig.suptitle(chart.title)
    out = io.BytesIO()
    fig.savefig(out, format="png")
    return out.getvalue()


def safe_cell(value: Cell) -> Cell:
    """Text a spreadsheet would evaluate (=, +, -, @ ...) is kept as text."""
    return f"'{value}" if isinstance(value, str) and value.startswith(FORMULA_STARTS) else value


def csv_text(table: Table) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(table.header)
    writer.writerows([safe_cell(c) for c in row] for row in table.rows)
    return out.getvalue()


@bp.route("/dashboard")
def dashboard() -> ResponseReturnValue:
    return render_template("dashboard.html", charts=CHARTS, days=window_days())


@bp.route("/dashboard/<name>.png")
def chart_png(name: str) -> ResponseReturnValue:
    chart, review = _chart(name), queue()
    since = review.log.start_of(window_days())
    return Response(png(chart, chart.table(review, since), since, review.log), mimetype="image/png")


@bp.route("/dashboard/<name>.csv")
def chart_csv(name: str) -> ResponseReturnValue:
    chart, review = _chart(name), queue()
    days = window_days()
    text = csv_text(chart.table(review, review.log.start_of(days)))
    disposition = f'attachment; filename="{name}-{days}d.csv"'
    return Response(text, mimetype="text/csv", headers={"Content-Disposition": disposition})
