"""Durable record of conversations handed to a person.

Each row carries what the staff console needs to pick the conversation up:
why it was handed off, whether it is urgent, the channel, the whole transcript
so far and the bot's top candidate entries with scores. SQLite by default;
the same tables on PostgreSQL when storage.backend says so.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

import sqlalchemy as sa

from travelbot.schema import ensure_schema
from travelbot.sqlite_engine import store_engine

metadata = sa.MetaData()

handoffs = sa.Table(
    "handoffs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("conversation_id", sa.String(255), nullable=False, index=True),
    sa.Column("channel", sa.String(64), nullable=False),
    sa.Column("reason", sa.String(64), nullable=False),
    sa.Column("urgent", sa.Boolean, nullable=False, default=False),
    sa.Column("status", sa.String(16), nullable=False, default="waiting", index=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_message", sa.Text, nullable=False),
    sa.Column("transcript", sa.Text, nullable=False),  # JSON list of {role, text, time}
    sa.Column("candidates", sa.Text, nullable=False),  # JSON list of {entry_id, score}
)


@dataclass
class Handoff:
    conversation_id: str
    channel: str
    reason: str
    last_message: str
    urgent: bool = False
    transcript: List[Dict[str, Any]] = field(default_factory=list)
    candidates: List[Dict[str, Any]] = field(default_factory=list)
    status: str = "waiting"
    created_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.timezone.utc))
    id: Optional[int] = None


class HandoffStore:
    def __init__(self, url: str):
        self.engine = store_engine(url)
        ensure_schema(self.engine)

    def record(self, handoff: Handoff) -> int:
        with self.engine.begin() as conn:
            result = conn.execute(
                handoffs.insert().values(
                    conversation_id=handoff.conversation_id,
                    channel=handoff.channel,
                    reason=handoff.reason,
                    urgent=handoff.urgent,
                    status=handoff.status,
                    created_at=handoff.created_at,
                    last_message=handoff.last_message,
                    transcript=json.dumps(handoff.transcript),
                    candidates=json.dumps(handoff.candidates),
                )
            )
            handoff.id = int(result.inserted_primary_key[0])
        return handoff.id

    def for_conversation(self, conversation_id: str) -> List[Handoff]:
        query = handoffs.select().where(handoffs.c.conversation_id == conversation_id).order_by(handoffs.c.id)
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [
            Handoff(
                id=row["id"],
                conversation_id=row["conversation_id"],
                channel=row["channel"],
                reason=row["reason"],
                urgent=bool(row["urgent"]),
                status=row["status"],
                created_at=row["created_at"],
                last_message=row["last_message"],
                transcript=json.loads(row["transcript"]),
                candidates=json.loads(row["candidates"]),
            )
            for row in rows
        ]
