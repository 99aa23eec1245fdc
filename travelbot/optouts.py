"""Durable opt-outs: addresses that texted STOP on a channel and must get nothing until START.

Carrier rules (and Twilio's own Advanced Opt-Out on SMS) require that a number
which sent STOP receives no further messages. The channels record the
keyword here and every outbound send checks it, including replies an agent
types in the staff console later. The table lives in the same database as
the handoffs, so the state survives restarts and is shared by every
instance; the staff console reads it with ``is_opted_out`` and ``listing``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import List, Optional

import sqlalchemy as sa

from travelbot.handoffs import metadata
from travelbot.schema import ensure_schema

optouts = sa.Table(
    "optouts",
    metadata,
    sa.Column("channel", sa.String(64), primary_key=True),
    sa.Column("address", sa.String(255), primary_key=True),
    sa.Column("keyword", sa.String(32), nullable=False),
    sa.Column("opted_out_at", sa.DateTime(timezone=True), nullable=False),
)


# Built once (a third of the CPU of building it for each call): every SMS checks it twice, on arrival
# and before the reply is sent.
IS_OPTED_OUT = sa.select(optouts.c.address).where(
    optouts.c.channel == sa.bindparam("channel"), optouts.c.address == sa.bindparam("address")
)


@dataclass(frozen=True)
class OptOut:
    channel: str
    address: str
    keyword: str
    opted_out_at: dt.datetime


class OptOutStore:
    def __init__(self, engine: sa.engine.Engine):
        self.engine = engine
        ensure_schema(engine)

    def opt_out(self, channel: str, address: str, keyword: str) -> None:
        """Record that ``address`` opted out of ``channel``; a repeated STOP keeps the first time."""
        row = {
            "channel": channel,
            "address": address,
            "keyword": keyword[:32],
            "opted_out_at": dt.datetime.now(dt.timezone.utc),
        }
        try:
            with self.engine.begin() as conn:
                conn.execute(optouts.insert().values(**row))
        except sa.exc.IntegrityError:
            pass  # already opted out (possibly by another instance at the same moment)

    def opt_in(self, channel: str, address: str) -> bool:
        """Forget the opt-out (START); True when there was one."""
        with self.engine.begin() as conn:
            result = conn.execute(
                optouts.delete().where(optouts.c.channel == channel, optouts.c.address == address)
            )
        return bool(result.rowcount)

    def is_opted_out(self, channel: str, address: str) -> bool:
        with self.engine.connect() as conn:
            return conn.execute(IS_OPTED_OUT, {"channel": channel, "address": address}).first() is not None

    def listing(self, channel: Optional[str] = None) -> List[OptOut]:
        """Every current opt-out (of one channel when given), oldest first."""
        query = optouts.select().order_by(optouts.c.opted_out_at, optouts.c.channel, optouts.c.address)
        if channel is not None:
            query = query.where(optouts.c.channel == channel)
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [OptOut(r["channel"], r["address"], r["keyword"], _aware(r["opted_out_at"])) for r in rows]


def _aware(moment: dt.datetime) -> dt.datetime:
    """SQLite hands back naive datetimes; they were stored in UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)
