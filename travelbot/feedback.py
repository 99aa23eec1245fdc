"""Travelers' thumbs up/down on answers, kept for the corpus editors.

The web chat posts a vote when a traveler presses "Helpful" or "Not helpful"
under an answer. Each vote is one row: who voted (the conversation's sender
id), when, on which entry, the verdict and the question the traveler had
typed, so an editor can see *what was asked* when an entry did not help. A
traveler who changes their mind adds a later row; ``latest_votes`` keeps only
the newest vote per sender and entry. The table lives in the same database as
the handoffs (the shared ``metadata``), so it survives restarts and is shared
by every instance.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import sqlalchemy as sa

from travelbot.handoffs import metadata
from travelbot.schema import ensure_schema

feedback = sa.Table(
    "feedback",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("sender", sa.String(255), nullable=False, index=True),
    sa.Column("channel", sa.String(64), nullable=False),
    sa.Column("entry_id", sa.String(255), nullable=False, index=True),
    sa.Column("helpful", sa.Boolean, nullable=False),
    sa.Column("question", sa.Text, nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)


@dataclass
class Vote:
    sender: str
    entry_id: str
    helpful: bool
    question: Optional[str] = None
    channel: str = "webchat"
    created_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.timezone.utc))
    id: Optional[int] = None


class FeedbackStore:
    def __init__(self, engine: sa.engine.Engine):
        self.engine = engine
        ensure_schema(engine)

    def record(self, vote: Vote) -> int:
        with self.engine.begin() as conn:
            result = conn.execute(
                feedback.insert().values(
                    sender=vote.sender,
                    channel=vote.channel,
                    entry_id=vote.entry_id,
                    helpful=vote.helpful,
                    question=vote.question,
                    created_at=vote.created_at,
                )
            )
            vote.id = int(result.inserted_primary_key[0])
        return vote.id

    def votes(self, sender: Optional[str] = None) -> List[Vote]:
        """Every vote in the order given, optionally only one sender's."""
        query = feedback.select().order_by(feedback.c.id)
        if sender is not None:
            query = query.where(feedback.c.sender == sender)
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [
            Vote(
                id=row["id"],
                sender=row["sender"],
                channel=row["channel"],
                entry_id=row["entry_id"],
                helpful=bool(row["helpful"]),
                question=row["question"],
                created_at=row["created_at"],
            )
            for row in rows
        ]

    def latest_votes(self) -> List[Vote]:
        """One vote per (sender, entry): the newest, so a changed mind counts once."""
        newest: Dict[Tuple[str, str], Vote] = {}
        for vote in self.votes():
            newest[(vote.sender, vote.entry_id)] = vote
        return sorted(newest.values(), key=lambda v: v.id or 0)
