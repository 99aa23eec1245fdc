"""The opt-out store is durable: a new store object on the same SQLite file sees the same state."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import sqlalchemy as sa

from travelbot.deliveries import DeliveryLog
from travelbot.handoffs import HandoffStore
from travelbot.optouts import OptOutStore

SMS, WHATSAPP = "twilio_sms", "twilio_whatsapp"
NUMBER = "+15558675310"


def fresh(db: Path) -> OptOutStore:
    """A new engine and store each time, as a restarted process would have."""
    return OptOutStore(sa.create_engine(f"sqlite:///{db}", future=True))


def test_opt_out_survives_a_new_store_on_the_same_file(tmp_path: Path) -> None:
    db = tmp_path / "travelbot.db"
    fresh(db).opt_out(SMS, NUMBER, "STOP")
    again = fresh(db)
    assert again.is_opted_out(SMS, NUMBER)
    assert not again.is_opted_out(WHATSAPP, f"whatsapp:{NUMBER}")
    assert not again.is_opted_out(SMS, "+15550000000")


def test_start_opts_back_in_durably(tmp_path: Path) -> None:
    db = tmp_path / "travelbot.db"
    fresh(db).opt_out(SMS, NUMBER, "STOP")
    assert fresh(db).opt_in(SMS, NUMBER) is True
    assert not fresh(db).is_opted_out(SMS, NUMBER)
    assert fresh(db).opt_in(SMS, NUMBER) is False  # nothing left to forget


def test_repeated_stop_keeps_the_first_record(tmp_path: Path) -> None:
    store = fresh(tmp_path / "travelbot.db")
    store.opt_out(SMS, NUMBER, "STOP")
    store.opt_out(SMS, NUMBER, "QUIT")
    (only,) = store.listing()
    assert (only.channel, only.address, only.keyword) == (SMS, NUMBER, "STOP")
    assert only.opted_out_at.tzinfo is not None
    assert dt.datetime.now(dt.timezone.utc) - only.opted_out_at < dt.timedelta(days=1)


def test_listing_filters_by_channel_oldest_first(tmp_path: Path) -> None:
    store = fresh(tmp_path / "travelbot.db")
    store.opt_out(SMS, NUMBER, "STOP")
    store.opt_out(WHATSAPP, f"whatsapp:{NUMBER}", "UNSUBSCRIBE")
    store.opt_out(SMS, "+15551112222", "END")
    assert [o.address for o in store.listing(SMS)] == [NUMBER, "+15551112222"]
    assert [o.keyword for o in store.listing(WHATSAPP)] == ["UNSUBSCRIBE"]
    assert len(store.listing()) == 3


def test_shares_the_handoff_database(tmp_path: Path) -> None:
    db = tmp_path / "travelbot.db"
    handoffs = HandoffStore(f"sqlite:///{db}")
    OptOutStore(handoffs.engine).opt_out(SMS, NUMBER, "STOP")
    DeliveryLog(handoffs.engine)
    tables = set(sa.inspect(sa.create_engine(f"sqlite:///{db}")).get_table_names())
    assert {"handoffs", "deliveries", "optouts"} <= tables
    assert fresh(db).is_opted_out(SMS, NUMBER)
