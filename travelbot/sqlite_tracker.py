"""Rasa's SQL tracker store on a SQLite file, set up for one busy writer (the embedded default).

Rasa 3.6's ``SQLTrackerStore`` opens SQLite with the library defaults: a new connection for every
retrieve and save (SQLAlchemy 1.4 pools nothing for SQLite files), and a rollback journal with an fsync
on every commit. Rasa commits twice per traveler message, so the fsyncs alone were the largest part of
the tracker store's share of a turn (tens of ms on this machine's disk; bench/latency.py).

Here the same tables and queries run over kept connections in write-ahead-log mode with
``synchronous=NORMAL``: a commit appends to the log without waiting for the disk. A crash of the Rasa
process loses nothing; a power cut or kernel crash can lose the last moments of conversation history
(SQLite's documented trade-off for this mode). Handoff records live in our own database, not here. A
deployment that cannot accept that runs the scaled mode (PostgreSQL).

Like the scaled mode's store it retries while the database is unreachable (a locked file past
``busy_timeout``) and never falls back to memory (travelbot/durable_tracker.py).

``type: travelbot.sqlite_tracker.SQLiteTrackerStore`` with ``db:`` in endpoints.yml.
"""

from __future__ import annotations

from typing import Any, Optional

import sqlalchemy as sa
from rasa.core.brokers.broker import EventBroker
from rasa.shared.core.domain import Domain

from travelbot.durable_tracker import DurableSQLTrackerStore
from travelbot.sqlite_engine import sqlite_engine


class SQLiteTrackerStore(DurableSQLTrackerStore):
    def __init__(
        self,
        domain: Optional[Domain] = None,
        db: str = "rasa.db",
        event_broker: Optional[EventBroker] = None,
        **kwargs: Any,
    ) -> None:
        kwargs.pop("dialect", None)
        kwargs.pop("host", None)
        super().__init__(domain, dialect="sqlite", db=db, event_broker=event_broker, **kwargs)

    def make_engine(self, url: sa.engine.URL) -> sa.engine.Engine:
        # ``url`` is Rasa's own reading of ``db`` (relative paths, quoting)
        return sqlite_engine(url, synchronous="NORMAL")
