"""Audit log of what staff did to the FAQ: who, what, to which entry, when, and the details.

Every editor action in the console (draft saved or discarded, preview, publish, refusal, gate override) is a
row here. It lives in the same database as the handoffs (shares ``travelbot.handoffs.metadata``), so it
survives restarts and sits beside the publications it explains.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

import sqlalchemy as sa

from travelbot.handoffs import metadata
from travelbot.schema import ensure_schema

DRAFT_SAVED = "draft_saved"
DRAFT_DISCARDED = "draft_discarded"
PREVIEWED = "previewed"
PUBLISHED = "published"
PUBLISH_REFUSED = "publish_refused"
OVERRIDE_USED = "override_used"
QUESTION_SAVED = "regression_question_saved"

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False, index=True),
    sa.Column("actor", sa.String(255), nullable=False, index=True),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("target", sa.String(255), nullable=False, default=""),
    sa.Column("detail", sa.Text, nullable=False, default="{}"),  # JSON object
)


@dataclass
class AuditEvent:
    actor: str
    action: str
    target: str = ""
    detail: Dict[str, Any] = field(default_factory=dict)
    at: Optional[dt.datetime] = None
    id: Optional[int] = None


class AuditLog:
    def __init__(self, engine: sa.engine.Engine):
        self.engine = engine
        ensure_schema(engine)

    def record(
        self, actor: str, action: str, target: str = "", detail: Optional[Dict[str, Any]] = None
    ) -> AuditEvent:
        event = AuditEvent(actor, action, target, dict(detail or {}), dt.datetime.now(dt.timezone.utc))
        with self.engine.begin() as conn:
            result = conn.execute(
                audit_log.insert().values(
                    at=event.at,
                    actor=actor,
                    action=action,
                    target=target,
                    detail=json.dumps(event.detail, sort_keys=True, default=str),
                )
            )
        event.id = int(result.inserted_primary_key[0])
        return event

    def recent(self, limit: int = 100, actor: Optional[str] = None) -> List[AuditEvent]:
        """The newest events first, optionally only one person's."""
        query = audit_log.select().order_by(audit_log.c.id.desc()).limit(limit)
        if actor is not None:
            query = query.where(audit_log.c.actor == actor)
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [
            AuditEvent(
                actor=row["actor"],
                action=row["action"],
                target=row["target"],
                detail=json.loads(row["detail"]),
                at=row["at"],
                id=row["id"],
            )
            for row in rows
        ]
