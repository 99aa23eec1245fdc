"""What travelers asked and what the bot did, read from Rasa's tracker store for the staff's analytics.

Rasa's SQL tracker store (SQLite ``server.tracker_db``, or the PostgreSQL
database in scaled mode) keeps every event in table ``events``, one JSON object
per row in ``data``. This module only reads it, and it is the one place that
knows its layout: a traveler's message is a ``user`` event, and the reply of
``action_respond`` that follows is a ``bot`` event whose ``data.custom`` holds the
decision, its reason and the entry (bot/actions/respond.py). Handoffs and
feedback come from our own database (travelbot/handoffs.py, travelbot/feedback.py).

A *conversation* is one session of one sender: it starts at the sender's first
message, or at the first message after Rasa's ``session_started`` or a
``restart`` (an agent handing the traveler back to the bot restarts it). Days
are calendar days in the reporting time zone (the agents' one in the console).

Every traveler text that leaves this module has gone through ``redact``; sender
ids (phone numbers on SMS) never leave it.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Collection, Dict, Iterator, List, Optional, Tuple
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from travelbot.casework import aware
from travelbot.feedback import FeedbackStore, Vote
from travelbot.handoffs import handoffs
from travelbot.redaction import redact
from travelbot.settings import ROOT, Settings

UTC = ZoneInfo("UTC")
# The columns of Rasa's SQLTrackerStore table that are read here (rasa.core.tracker_store.SQLTrackerStore).
events = sa.Table(
    "events",
    sa.MetaData(),
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("sender_id", sa.String(255)),
    sa.Column("type_name", sa.String(255)),
    sa.Column("timestamp", sa.Float),
    sa.Column("data", sa.Text),
)
SESSION_STARTS = ("session_started", "restart")
READ_TYPES = ("user", "bot", *SESSION_STARTS)


def tracker_url(config: Settings) -> str:
    """Where Rasa keeps its tracker: the same switch as our storage (endpoints.yml / endpoints.scaled.yml)."""
    if config.storage.backend == "postgresql":
        return config.storage.url()
    path = config.server.tracker_db
    return f"sqlite:///{path if path.is_absolute() else ROOT / path}"


def read_only(url: str) -> sa.engine.Engine:
    """An engine that cannot write: SQLite opened with mode=ro (never created when missing), PostgreSQL
    transactions in READ ONLY mode."""
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        path = Path(str(parsed.database)).resolve()
        return sa.create_engine(f"sqlite:///file:{path}?mode=ro&uri=true", future=True)
    if parsed.get_backend_name() == "postgresql":
        options = {"postgresql_readonly": True}
        return sa.create_engine(url, future=True, pool_pre_ping=True, execution_options=options)
    return sa.create_engine(url, future=True, pool_pre_ping=True)


@dataclass(frozen=True)
class Question:
    """One traveler message and the bot's decision on it (None: no decision, e.g. while handed off)."""

    channel: str
    asked_at: dt.datetime
    text: str  # redacted
    decision: Optional[str] = None
    reason: Optional[str] = None
    entry_id: Optional[str] = None
    score: Optional[float] = None
    choices: Tuple[str, ...] = ()
    handoff_id: Optional[int] = None


@dataclass
class _Turn:
    """A traveler message as stored (unredacted: never returned) and the decision metadata that followed."""

    channel: str
    asked_at: dt.datetime
    text: str
    custom: Optional[Dict[str, Any]] = None


@dataclass(frozen=True)
class Conversation:
    """One session: where and when it started and the decision on each traveler message (no texts)."""

    channel: str
    started_at: dt.datetime
    decisions: Tuple[Optional[str], ...]

    @property
    def handed_off(self) -> bool:
        return "handoff" in self.decisions

    @property
    def answered(self) -> bool:
        return "answer" in self.decisions


@dataclass(frozen=True)
class DayCount:
    day: dt.date
    channel: str
    conversations: int


@dataclass(frozen=True)
class Containment:
    """Conversations the bot answered without handing to a person, out of all conversations that day."""

    day: dt.date
    conversations: int
    contained: int

    @property
    def rate(self) -> float:
        return self.contained / self.conversations if self.conversations else 0.0


@dataclass(frozen=True)
class ReasonCount:
    reason: str
    handoffs: int
    urgent: int


@dataclass(frozen=True)
class EntryFeedback:
    entry_id: str
    helpful: int
    not_helpful: int


@dataclass(frozen=True)
class ThumbsDown:
    entry_id: str
    channel: str
    voted_at: dt.datetime
    question: str  # redacted


def _custom(data: Dict[str, Any]) -> Optional[Dict[str, Any]]:
    """The decision metadata action_respond attached to a bot event, if this is such a reply."""
    custom = (data.get("data") or {}).get("custom")
    return custom if isinstance(custom, dict) and custom.get("decision") else None


def _question(turn: _Turn) -> Question:
    """The turn with its text redacted and the decision metadata read defensively (it is stored JSON)."""
    custom = turn.custom or {}
    choices = tuple(str(c.get("entry_id")) for c in custom.get("choices") or [] if isinstance(c, dict))
    score, handoff_id, entry_id = custom.get("score"), custom.get("handoff_id"), custom.get("entry_id")
    return Question(
        channel=turn.channel,
        asked_at=turn.asked_at,
        text=redact(turn.text),
        decision=str(custom["decision"]) if custom else None,
        reason=str(custom.get("reason") or "") if custom else None,
        entry_id=str(entry_id) if entry_id else None,
        score=float(score) if isinstance(score, (int, float)) else None,
        choices=choices,
        handoff_id=handoff_id if isinstance(handoff_id, int) else None,
    )


class ConversationLog:
    """Read-only queries over the tracker events (``tracker``) and our records (``records``)."""

    def __init__(self, tracker: sa.engine.Engine, records: sa.engine.Engine, zone: ZoneInfo = UTC):
        self.tracker = tracker
        self.records = records
        self.feedback = FeedbackStore(records)
        self.zone = zone

    @classmethod
    def from_settings(cls, config: Settings, records: sa.engine.Engine) -> ConversationLog:
        return cls(read_only(tracker_url(config)), records, ZoneInfo(config.agent_hours.timezone))

    def day(self, moment: dt.datetime) -> dt.date:
        return moment.astimezone(self.zone).date()

    def start_of(self, days: int, now: Optional[dt.datetime] = None) -> dt.datetime:
        """The first moment of a window of ``days`` calendar days ending today."""
        today = (now or dt.datetime.now(dt.timezone.utc)).astimezone(self.zone).date()
        first = today - dt.timedelta(days=days - 1)
        return dt.datetime.combine(first, dt.time(0), tzinfo=self.zone)

    def _rows(self, since: dt.datetime) -> Iterator[Tuple[str, Dict[str, Any]]]:
        try:
            if not sa.inspect(self.tracker).has_table("events"):
                return
        except sa.exc.OperationalError:  # no tracker file yet: nobody has talked to the bot
            return
        query = (
            sa.select(events.c.sender_id, events.c.data)
            .where(events.c.type_name.in_(READ_TYPES), events.c.timestamp >= since.timestamp())
            .order_by(events.c.sender_id, events.c.id)
        )
        with self.tracker.connect() as conn:
            for sender, data in conn.execute(query):
                try:
                    yield str(sender), json.loads(data)
                except (TypeError, ValueError):
                    continue

    def _sessions(self, since: dt.datetime) -> Iterator[List[_Turn]]:
        """Each session's traveler messages, in sender order; sessions without one are skipped."""
        turns: List[_Turn] = []
        sender_of_turns: Optional[str] = None
        for sender, event in self._rows(since):
            kind = event.get("event")
            if sender != sender_of_turns or kind in SESSION_STARTS:
                if turns:
                    yield turns
                turns, sender_of_turns = [], sender
            if kind == "user" and isinstance(event.get("text"), str):
                when = dt.datetime.fromtimestamp(float(event.get("timestamp") or 0), dt.timezone.utc)
                turns.append(_Turn(str(event.get("input_channel") or "unknown"), when, event["text"]))
            elif kind == "bot" and turns and turns[-1].custom is None:
                turns[-1].custom = _custom(event)
        if turns:
            yield turns

    def conversations(self, since: dt.datetime) -> List[Conversation]:
        """Every conversation with at least one traveler message since ``since``."""
        return [
            Conversation(t[0].channel, t[0].asked_at, tuple((x.custom or {}).get("decision") for x in t))
            for t in self._sessions(since)
        ]

    def questions(self, since: dt.datetime, decisions: Optional[Collection[str]] = None) -> List[Question]:
        """Each traveler question with the decision on it, optionally only those given ``decisions``.

        Button payloads ("/choose{...}") are left out; only the questions returned are redacted (it costs
        a fraction of a millisecond per text, which adds up over a month of conversations).
        """
        return [
            _question(turn)
            for turns in self._sessions(since)
            for turn in turns
            if not turn.text.lstrip().startswith("/")
            and (decisions is None or (turn.custom or {}).get("decision") in decisions)
        ]

    def per_channel_per_day(self, since: dt.datetime) -> List[DayCount]:
        counts = Counter((self.day(c.started_at), c.channel) for c in self.conversations(since))
        return [DayCount(day, channel, n) for (day, channel), n in sorted(counts.items())]

    def containment(self, since: dt.datetime) -> List[Containment]:
        total: Counter[dt.date] = Counter()
        contained: Counter[dt.date] = Counter()
        for conversation in self.conversations(since):
            day = self.day(conversation.started_at)
            total[day] += 1
            contained[day] += conversation.answered and not conversation.handed_off
        return [Containment(day, total[day], contained[day]) for day in sorted(total)]

    def handoffs_by_reason(self, since: dt.datetime) -> List[ReasonCount]:
        """From our handoff records (the durable ones agents work from), most frequent first."""
        utc_since = since.astimezone(dt.timezone.utc)  # SQLite compares the stored UTC wall-clock text
        query = sa.select(handoffs.c.reason, handoffs.c.urgent).where(handoffs.c.created_at >= utc_since)
        totals: Counter[str] = Counter()
        urgent: Counter[str] = Counter()
        with self.records.connect() as conn:
            for reason, is_urgent in conn.execute(query):
                totals[reason] += 1
                urgent[reason] += bool(is_urgent)
        return [ReasonCount(r, n, urgent[r]) for r, n in sorted(totals.items(), key=lambda i: (-i[1], i[0]))]

    def handoff_candidates(self, handoff_ids: List[int]) -> Dict[int, List[str]]:
        """The entries the bot considered before each handoff, best first (stored with the handoff)."""
        if not handoff_ids:
            return {}
        query = sa.select(handoffs.c.id, handoffs.c.candidates).where(handoffs.c.id.in_(handoff_ids))
        with self.records.connect() as conn:
            rows = conn.execute(query).all()
        return {int(i): [str(c["entry_id"]) for c in json.loads(raw or "[]")] for i, raw in rows}

    def _votes_since(self, since: dt.datetime) -> List[Vote]:
        return [v for v in self.feedback.latest_votes() if aware(v.created_at) >= since]

    def feedback_by_entry(self, since: dt.datetime) -> List[EntryFeedback]:
        """Votes per entry (a traveler's latest per entry), most voted first."""
        tally: Dict[str, List[int]] = defaultdict(lambda: [0, 0])
        for vote in self._votes_since(since):
            tally[vote.entry_id][0 if vote.helpful else 1] += 1
        rows = [EntryFeedback(entry, up, down) for entry, (up, down) in tally.items()]
        return sorted(rows, key=lambda r: (-(r.helpful + r.not_helpful), -r.not_helpful, r.entry_id))

    def thumbs_down(self, since: dt.datetime) -> List[ThumbsDown]:
        return [
            ThumbsDown(v.entry_id, v.channel, aware(v.created_at), redact(v.question or ""))
            for v in self._votes_since(since)
            if not v.helpful and (v.question or "").strip()
        ]
