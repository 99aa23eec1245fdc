"""Provider redeliveries: remember which inbound message ids were already handled.

Twilio and Meta retry a webhook when our answer is slow or lost; each retry
carries the same message id (Twilio's MessageSid, Messenger's ``mid``). A
channel calls ``first_delivery`` before handing a message to Rasa and drops
it when the id was seen, so a redelivery never produces a second reply. The
table lives in the same database as the handoffs, so this survives restarts
and is shared by every instance in scaled mode.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from travelbot.handoffs import metadata
from travelbot.schema import ensure_schema

deliveries = sa.Table(
    "deliveries",
    metadata,
    sa.Column("channel", sa.String(64), primary_key=True),
    sa.Column("message_id", sa.String(255), primary_key=True),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
)


class DeliveryLog:
    def __init__(self, engine: sa.engine.Engine):
        self.engine = engine
        ensure_schema(engine)

    def first_delivery(self, channel: str, message_id: str) -> bool:
        """True the first time (channel, message_id) is seen, False for every redelivery."""
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    deliveries.insert().values(
                        channel=channel, message_id=message_id, received_at=dt.datetime.now(dt.timezone.utc)
                    )
                )
        except sa.exc.IntegrityError:
            return False
        return True
