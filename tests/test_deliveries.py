import asyncio

import pytest
import sqlalchemy as sa

from travelbot import runtime
from travelbot.deliveries import DeliveryLog, first_delivery
from travelbot.handoffs import HandoffStore
from travelbot.schema import SchemaError


def test_redelivery_is_recognised_and_survives_a_new_log(tmp_path):
    url = f"sqlite:///{tmp_path / 'd.db'}"
    log = DeliveryLog(sa.create_engine(url, future=True))
    assert log.first_delivery("twilio_sms", "SM1")
    assert not log.first_delivery("twilio_sms", "SM1")
    assert log.first_delivery("messenger", "SM1")  # ids are per channel
    reopened = DeliveryLog(sa.create_engine(url, future=True))
    assert not reopened.first_delivery("twilio_sms", "SM1")


def synchronous_mode(engine: sa.engine.Engine) -> int:
    with engine.connect() as conn:
        return int(conn.exec_driver_sql("PRAGMA synchronous").scalar_one())


def test_the_runtime_log_shares_the_handoff_file_but_commits_without_waiting_for_the_disk(
    tmp_path, monkeypatch
):
    """travelbot/deliveries.py says why NORMAL (1) is enough for this log; the handoffs keep FULL (2)."""
    handoffs = HandoffStore(f"sqlite:///{tmp_path / 'travelbot.db'}")
    monkeypatch.setattr(runtime, "_store", handoffs)
    monkeypatch.setattr(runtime, "_stores", {})
    log = runtime.delivery_log()
    assert log is runtime.delivery_log()
    assert log.engine.url == handoffs.engine.url
    assert (synchronous_mode(log.engine), synchronous_mode(handoffs.engine)) == (1, 2)
    assert log.first_delivery("twilio_sms", "SM1")
    assert not DeliveryLog(handoffs.engine).first_delivery("twilio_sms", "SM1")  # one table, one file


def unreachable_log(tmp_path) -> DeliveryLog:
    """A real log on a database that cannot be created: its folder's name is taken by a file."""
    (tmp_path / "not-a-folder").write_text("")
    return DeliveryLog(sa.create_engine(f"sqlite:///{tmp_path / 'not-a-folder' / 'd.db'}", future=True))


def test_the_async_check_remembers_and_an_unreachable_log_lets_the_message_through(tmp_path, caplog):
    log = DeliveryLog(sa.create_engine(f"sqlite:///{tmp_path / 'd.db'}", future=True))
    assert asyncio.run(first_delivery(lambda: log, "twilio_sms", "SM1"))
    assert not asyncio.run(first_delivery(lambda: log, "twilio_sms", "SM1"))
    with pytest.raises(SchemaError, match="cannot lock the database"):
        unreachable_log(tmp_path)
    # A lost reply is worse than a possible second one: handled, and the failure is logged.
    assert asyncio.run(first_delivery(lambda: unreachable_log(tmp_path), "twilio_sms", "SM2"))
    assert asyncio.run(first_delivery(lambda: unreachable_log(tmp_path), "twilio_sms", "SM2"))
    assert "delivery log unavailable" in caplog.text and "SM2" in caplog.text
