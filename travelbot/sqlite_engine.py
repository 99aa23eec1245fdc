"""SQLAlchemy engines on SQLite files that keep their connections, in write-ahead-log mode.

SQLAlchemy 1.4 opens a new SQLite connection for every use of a file database, and SQLite's default
rollback journal creates, syncs and deletes a journal file on every commit. Our stores touch the
database several times per SMS (a first-delivery check, two opt-out checks) and each touch cost a
millisecond or more. Here connections are pooled (SQLAlchemy 2.0's default for files) and opened in WAL
mode, which also lets the servers and the console read while one of them writes, with a busy timeout
instead of an immediate "database is locked".

``synchronous``: FULL (our records: handoffs, opt-outs, ...; a commit survives a power cut) or
NORMAL (the conversation tracker, travelbot/sqlite_tracker.py, and the delivery log,
travelbot/deliveries.py: a commit survives a crash of the process, and a power cut may lose its last
moments).
"""

from __future__ import annotations

import functools
from typing import Any, Union

import sqlalchemy as sa

BUSY_TIMEOUT_MS = 10_000


def _set_pragmas(synchronous: str, dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    for pragma in ("journal_mode=WAL", f"synchronous={synchronous}", f"busy_timeout={BUSY_TIMEOUT_MS}"):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def is_sqlite_file(url: Union[str, sa.engine.URL]) -> bool:
    parsed = sa.engine.make_url(url)
    return parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:")


def sqlite_engine(
    url: Union[str, sa.engine.URL], synchronous: str = "FULL", **kwargs: Any
) -> sa.engine.Engine:
    """An engine on a SQLite file with kept connections, WAL, ``synchronous`` and a busy timeout."""
    if synchronous not in ("FULL", "NORMAL"):
        raise ValueError(f"synchronous must be FULL or NORMAL, not {synchronous!r}")
    engine = sa.create_engine(
        url,
        poolclass=sa.pool.QueuePool,
        connect_args={"check_same_thread": False},
        **kwargs,
    )
    sa.event.listen(engine, "connect", functools.partial(_set_pragmas, synchronous))
    return engine


def store_engine(url: str) -> sa.engine.Engine:
    """The engine for our own records: a kept-connection SQLite engine, or (PostgreSQL) one whose
    pooled connections are checked before use."""
    if is_sqlite_file(url):
        return sqlite_engine(url, future=True)
    return sa.create_engine(url, future=True, pool_pre_ping=True)
