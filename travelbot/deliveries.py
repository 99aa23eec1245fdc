"""Provider redeliveries: remember which inbound message ids were already handled.

Twilio and Meta retry a webhook when our answer is slow or lost; each retry
carries the same message id (Twilio's MessageSid, Messenger's ``mid``). A
channel calls ``first_delivery`` before handing a message to Rasa and drops
it when the id was seen, so a redelivery never produces a second reply. The
table lives in the same database as the handoffs, so this survives restarts
and is shared by every instance in scaled mode.

On SQLite the log commits with ``synchronous=NORMAL`` (travelbot/runtime.py), not FULL like the
handoffs and opt-outs: a record survives a crash of the process, but a power cut may lose the last
seconds of records. That is enough. Twilio retries only a call we did not answer with 200, and we answer
after the reply was sent; so a lost record can at worst let a retry of a call cut off by the power cut be
answered again (a second reply), where a kept one would drop that retry even if no reply had gone out.
A FULL commit waits for the disk on the Rasa server's event loop on every SMS, which showed in the
webhook's latency under load.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import Callable

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


logger = logging.getLogger(__name__)

# Built once, values bound per call: building ``insert().values(...)`` for every webhook call took as
# much CPU as the insert itself.
RECORD = deliveries.insert()


class DeliveryLog:
    def __init__(self, engine: sa.engine.Engine):
        self.engine = engine
        ensure_schema(engine)

    def first_delivery(self, channel: str, message_id: str) -> bool:
        """True the first time (channel, message_id) is seen, False for every redelivery."""
        try:
            with self.engine.begin() as conn:
                moment = dt.datetime.now(dt.timezone.utc)
                conn.execute(RECORD, {"channel": channel, "message_id": message_id, "received_at": moment})
        except sa.exc.IntegrityError:
            return False
        return True


async def first_delivery(log: Callable[[], DeliveryLog], channel: str, message_id: str) -> bool:
    """``DeliveryLog.first_delivery`` for a webhook handler, which runs on the server's event loop.

    The insert runs in a worker thread: on PostgreSQL (scaled mode) it is a network round trip that
    would stall every other conversation on the loop. When the log cannot be reached, the message is
    handled anyway: a lost reply is worse than a possible second one. Refusing it until the database
    is back could lose it: Twilio logs a failed SMS webhook and does nothing more unless a fallback
    URL or retry overrides are set, and Meta gives up on a webhook after a while.
    """
    try:
        deliveries = log()
        return await asyncio.to_thread(deliveries.first_delivery, channel, message_id)
    except Exception:
        logger.exception("delivery log unavailable; handling %s %s without dedup", channel, message_id)
        return True
