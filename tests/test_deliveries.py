import sqlalchemy as sa

from travelbot import runtime
from travelbot.deliveries import DeliveryLog
from travelbot.handoffs import HandoffStore


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
