"""What agents do with a handoff: claim it, reply, write notes, resolve it.

New tables only (deployed databases already hold ``handoffs``): ``handoff_claims``
says who holds a handoff, ``agent_messages`` keeps agents' replies and internal
notes. A claim is one conditional UPDATE of ``handoffs.status``
(waiting -> claimed), so two agents racing for the same handoff cannot both
win, whichever process or database they use. Replies on the web chat are
delivered from this table: the chat page polls ``outbox``.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any, Dict, List, Optional

import sqlalchemy as sa

from travelbot.handoffs import handoffs, metadata
from travelbot.schema import ensure_schema

VIEWS = ("waiting", "mine", "claimed", "resolved")
RESOLVED_SHOWN = 200

claims = sa.Table(
    "handoff_claims",
    metadata,
    sa.Column("handoff_id", sa.Integer, primary_key=True),
    sa.Column("agent", sa.String(64), nullable=False),
    sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("resolved_by", sa.String(64), nullable=True),
    sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
)

agent_messages = sa.Table(
    "agent_messages",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("handoff_id", sa.Integer, nullable=False, index=True),
    sa.Column("conversation_id", sa.String(255), nullable=False, index=True),
    sa.Column("channel", sa.String(64), nullable=False),
    sa.Column("kind", sa.String(8), nullable=False),  # "reply" or "note"
    sa.Column("author", sa.String(64), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("delivery", sa.String(255), nullable=True),  # replies: what became of the send
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)


class CaseError(Exception):
    """An action on a handoff that is not allowed in its current state; the message says why."""


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def aware(moment: dt.datetime) -> dt.datetime:
    """SQLite hands back naive datetimes; every time we store is UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)


@dataclass(frozen=True)
class Case:
    """A handoff row joined with its claim."""

    id: int
    conversation_id: str
    channel: str
    reason: str
    urgent: bool
    status: str
    created_at: dt.datetime
    last_message: str
    candidates: List[Dict[str, Any]]
    transcript: List[Dict[str, Any]]  # as stored at handoff time: [{role: user|bot, text, time}]
    agent: Optional[str] = None
    claimed_at: Optional[dt.datetime] = None
    resolved_at: Optional[dt.datetime] = None

    def to_json(self) -> Dict[str, Any]:
        return {
            "id": self.id,
            "conversation_id": self.conversation_id,
            "channel": self.channel,
            "reason": self.reason,
            "urgent": self.urgent,
            "status": self.status,
            "created_at": self.created_at.isoformat(),
            "waiting_s": int((now() - self.created_at).total_seconds()),
            "last_message": self.last_message,
            "agent": self.agent,
        }


@dataclass(frozen=True)
class AgentMessage:
    id: int
    handoff_id: int
    kind: str
    author: str
    text: str
    delivery: Optional[str]
    created_at: dt.datetime

    def to_json(self) -> Dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "author": self.author,
            "text": self.text,
            "delivery": self.delivery,
            "time": self.created_at.isoformat(),
        }


class CaseStore:
    def __init__(self, engine: sa.engine.Engine):
        self.engine = engine
        ensure_schema(engine)

    def _select(self) -> sa.sql.Select:
        return sa.select(handoffs, claims.c.agent, claims.c.claimed_at, claims.c.resolved_at).select_from(
            handoffs.outerjoin(claims, claims.c.handoff_id == handoffs.c.id)
        )

    @staticmethod
    def _case(row: Any) -> Case:
        return Case(
            id=row["id"],
            conversation_id=row["conversation_id"],
            channel=row["channel"],
            reason=row["reason"],
            urgent=bool(row["urgent"]),
            status=row["status"],
            created_at=aware(row["created_at"]),
            last_message=row["last_message"],
            candidates=json.loads(row["candidates"] or "[]"),
            transcript=json.loads(row["transcript"] or "[]"),
            agent=row["agent"],
            claimed_at=aware(row["claimed_at"]) if row["claimed_at"] else None,
            resolved_at=aware(row["resolved_at"]) if row["resolved_at"] else None,
        )

    def get(self, handoff_id: int) -> Optional[Case]:
        with self.engine.connect() as conn:
            row = conn.execute(self._select().where(handoffs.c.id == handoff_id)).mappings().first()
        return self._case(row) if row else None

    def inbox(self, view: str, agent: str) -> List[Case]:
        """One inbox tab; urgent first, then the longest waiting (resolved: the latest first)."""
        if view not in VIEWS:
            raise ValueError(f"unknown view {view!r}")
        query = self._select()
        order = [handoffs.c.urgent.desc(), handoffs.c.created_at, handoffs.c.id]
        if view == "waiting":
            query = query.where(handoffs.c.status == "waiting")
        elif view == "mine":
            query = query.where(handoffs.c.status == "claimed", claims.c.agent == agent)
        elif view == "claimed":
            query = query.where(handoffs.c.status == "claimed")
        else:
            query = query.where(handoffs.c.status == "resolved").limit(RESOLVED_SHOWN)
            order = [claims.c.resolved_at.desc(), handoffs.c.id.desc()]
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(*order)).mappings().all()
        return [self._case(row) for row in rows]

    def counts(self, agent: str) -> Dict[str, int]:
        return {view: len(self.inbox(view, agent)) for view in ("waiting", "mine", "claimed")}

    def claim(self, handoff_id: int, agent: str) -> Case:
        """Take a waiting handoff; CaseError (naming who has it) when someone else was first."""
        with self.engine.begin() as conn:
            taken = conn.execute(
                handoffs.update()
                .where(handoffs.c.id == handoff_id, handoffs.c.status == "waiting")
                .values(status="claimed")
            )
            if taken.rowcount == 1:
                conn.execute(claims.delete().where(claims.c.handoff_id == handoff_id))
                conn.execute(claims.insert().values(handoff_id=handoff_id, agent=agent, claimed_at=now()))
        case = self.get(handoff_id)
        if case is None:
            raise CaseError(f"handoff {handoff_id} does not exist")
        if taken.rowcount != 1:
            if case.status == "claimed":
                who = "you" if case.agent == agent else case.agent
                raise CaseError(f"handoff {handoff_id} is already claimed by {who}")
            raise CaseError(f"handoff {handoff_id} is {case.status}, not waiting")
        return case

    def release(self, handoff_id: int) -> None:
        """Put a claimed handoff back in the waiting queue (an admin freeing a stuck claim)."""
        with self.engine.begin() as conn:
            done = conn.execute(
                handoffs.update()
                .where(handoffs.c.id == handoff_id, handoffs.c.status == "claimed")
                .values(status="waiting")
            )
            if done.rowcount != 1:
                raise CaseError(f"handoff {handoff_id} is not claimed")
            conn.execute(claims.delete().where(claims.c.handoff_id == handoff_id))

    def resolve(self, handoff_id: int, agent: str, any_agent: bool = False) -> Case:
        """Close a claimed handoff held by ``agent`` (or by anyone when ``any_agent``)."""
        with self.engine.begin() as conn:
            held = sa.select(claims.c.handoff_id).where(claims.c.handoff_id == handoff_id)
            if not any_agent:
                held = held.where(claims.c.agent == agent)
            done = conn.execute(
                handoffs.update()
                .where(handoffs.c.id == handoff_id, handoffs.c.status == "claimed", handoffs.c.id.in_(held))
                .values(status="resolved")
            )
            if done.rowcount == 1:
                conn.execute(
                    claims.update()
                    .where(claims.c.handoff_id == handoff_id)
                    .values(resolved_by=agent, resolved_at=now())
                )
        case = self.get(handoff_id)
        if done.rowcount != 1 or case is None:
            raise CaseError(f"handoff {handoff_id} is not claimed by you")
        return case

    def add_message(
        self, case: Case, kind: str, author: str, text: str, delivery: Optional[str] = None
    ) -> int:
        if kind not in ("reply", "note"):
            raise ValueError(f"unknown kind {kind!r}")
        with self.engine.begin() as conn:
            result = conn.execute(
                agent_messages.insert().values(
                    handoff_id=case.id,
                    conversation_id=case.conversation_id,
                    channel=case.channel,
                    kind=kind,
                    author=author,
                    text=text,
                    delivery=delivery,
                    created_at=now(),
                )
            )
        return int(result.inserted_primary_key[0])

    def set_delivery(self, message_id: int, delivery: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                agent_messages.update().where(agent_messages.c.id == message_id).values(delivery=delivery)
            )

    def messages(self, handoff_id: int) -> List[AgentMessage]:
        query = agent_messages.select().where(agent_messages.c.handoff_id == handoff_id)
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(agent_messages.c.id)).mappings().all()
        return [self._message(row) for row in rows]

    def outbox(
        self, channel: str, conversation_id: str, after: int = 0, limit: int = 50
    ) -> List[AgentMessage]:
        """Agents' replies to one conversation with ids above ``after`` (what a polling page lacks)."""
        query = (
            agent_messages.select()
            .where(
                agent_messages.c.channel == channel,
                agent_messages.c.conversation_id == conversation_id,
                agent_messages.c.kind == "reply",
                agent_messages.c.id > after,
            )
            .order_by(agent_messages.c.id)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [self._message(row) for row in rows]

    @staticmethod
    def _message(row: Any) -> AgentMessage:
        return AgentMessage(
            id=row["id"],
            handoff_id=row["handoff_id"],
            kind=row["kind"],
            author=row["author"],
            text=row["text"],
            delivery=row["delivery"],
            created_at=aware(row["created_at"]),
        )
