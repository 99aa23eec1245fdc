"""travelbot/sqlite_engine.py: kept connections in WAL mode, durable commits for our own records."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Tuple

import pytest
import sqlalchemy as sa

from travelbot.handoffs import Handoff, HandoffStore
from travelbot.sqlite_engine import is_sqlite_file, sqlite_engine, store_engine


def pragmas(engine: sa.engine.Engine) -> Tuple[Any, ...]:
    with engine.connect() as conn:
        return tuple(
            conn.exec_driver_sql(f"PRAGMA {name}").scalar()
            for name in ("journal_mode", "synchronous", "busy_timeout")
        )


def test_our_records_are_kept_in_wal_mode_with_full_sync(tmp_path: Path) -> None:
    engine = store_engine(f"sqlite:///{tmp_path / 'records.db'}")
    assert isinstance(engine.pool, sa.pool.QueuePool)
    assert pragmas(engine) == ("wal", 2, 10_000)  # 2 = FULL: a commit survives a power cut


def test_the_tracker_engine_trades_the_last_moments_for_speed(tmp_path: Path) -> None:
    assert pragmas(sqlite_engine(f"sqlite:///{tmp_path / 'tracker.db'}", synchronous="NORMAL"))[1] == 1
    with pytest.raises(ValueError, match="FULL or NORMAL"):
        sqlite_engine(f"sqlite:///{tmp_path / 'x.db'}", synchronous="OFF")


def test_connections_are_reused(tmp_path: Path) -> None:
    store = HandoffStore(f"sqlite:///{tmp_path / 'records.db'}")
    connects = []
    sa.event.listen(store.engine, "connect", lambda *_: connects.append(1))
    for n in range(5):
        store.record(Handoff(conversation_id=f"c{n}", channel="rest", reason="asked", last_message="hi"))
    assert len(store.for_conversation("c3")) == 1
    assert len(connects) <= 1  # SQLAlchemy 1.4 opened a new connection for each of those six uses


def test_other_databases_get_checked_pooled_connections() -> None:
    assert not is_sqlite_file("sqlite://") and not is_sqlite_file("sqlite:///:memory:")
    engine = store_engine("postgresql://nobody@127.0.0.1:1/none")  # not connected until used
    assert engine.pool._pre_ping
