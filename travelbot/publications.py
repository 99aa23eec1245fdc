"""Record of every corpus publication: who published which version, when, why, and the gate's verdict.

Lives in the same database as the handoffs (shares ``travelbot.handoffs.metadata``), so a gate override is
auditable from the staff console later and survives restarts.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import List, Optional

import sqlalchemy as sa

from travelbot.handoffs import metadata
from travelbot.schema import ensure_schema

publications = sa.Table(
    "publications",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("version", sa.Integer, nullable=False, index=True),
    sa.Column("author", sa.String(255), nullable=False),
    sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("reason", sa.Text, nullable=False, default=""),
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("gate", sa.String(16), nullable=False),  # passed | overridden | baseline
    sa.Column("override_reason", sa.Text, nullable=True),
    sa.Column("gate_summary", sa.Text, nullable=False, default=""),
)


@dataclass
class Publication:
    version: int
    author: str
    reason: str
    fingerprint: str
    gate: str
    gate_summary: str = ""
    override_reason: Optional[str] = None
    published_at: Optional[dt.datetime] = None


class PublicationStore:
    def __init__(self, engine: sa.engine.Engine):
        self.engine = engine
        ensure_schema(engine)

    def record(self, publication: Publication) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                publications.insert().values(
                    version=publication.version,
                    author=publication.author,
                    published_at=dt.datetime.now(dt.timezone.utc),
                    reason=publication.reason,
                    fingerprint=publication.fingerprint,
                    gate=publication.gate,
                    override_reason=publication.override_reason,
                    gate_summary=publication.gate_summary,
                )
            )

    def all(self) -> List[Publication]:
        with self.engine.connect() as conn:
            rows = conn.execute(publications.select().order_by(publications.c.id)).mappings().all()
        return [
            Publication(
                version=row["version"],
                author=row["author"],
                reason=row["reason"],
                fingerprint=row["fingerprint"],
                gate=row["gate"],
                gate_summary=row["gate_summary"],
                override_reason=row["override_reason"],
                published_at=row["published_at"],
            )
            for row in rows
        ]
