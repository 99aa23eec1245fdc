import sqlalchemy as sa

from travelbot.deliveries import DeliveryLog


def test_redelivery_is_recognised_and_survives_a_new_log(tmp_path):
    url = f"sqlite:///{tmp_path / 'd.db'}"
    log = DeliveryLog(sa.create_engine(url, future=True))
    assert log.first_delivery("twilio_sms", "SM1")
    assert not log.first_delivery("twilio_sms", "SM1")
    assert log.first_delivery("messenger", "SM1")  # ids are per channel
    reopened = DeliveryLog(sa.create_engine(url, future=True))
    assert not reopened.first_delivery("twilio_sms", "SM1")
