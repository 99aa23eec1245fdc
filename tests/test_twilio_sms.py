"""SMS and WhatsApp through Twilio.

Unit tests drive the real channel objects with real Sanic requests and real
stores on a temporary SQLite file; Twilio's API is intercepted at the HTTP
boundary with ``responses``. Integration tests (marked slow) post signed
webhooks to the real Rasa server and action server, with a local stand-in
for api.twilio.com (tests/twilio_payloads.py).
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import pytest
import sqlalchemy as sa
from sanic import Sanic
from sanic.compat import Header
from sanic.request import Request

from channels import twilio_sms as sms
from channels.twilio_client import TwilioConfig, TwilioSender, load_config
from channels.twilio_whatsapp import TwilioWhatsAppInput
from tests import twilio_payloads as tw
from travelbot import runtime
from travelbot.deliveries import DeliveryLog
from travelbot.handoffs import HandoffStore
from travelbot.optouts import OptOutStore
from travelbot.settings import ConfigError

API_URL = f"https://api.twilio.com{tw.MESSAGES_PATH}"
SMS_PATH = "/webhooks/twilio_sms/webhook"
WHATSAPP_PATH = "/webhooks/twilio_whatsapp/webhook"
SMS_VARS = ("TWILIO_SMS_FROM", "TWILIO_WHATSAPP_FROM", "TWILIO_PUBLIC_BASE_URL", "TWILIO_API_BASE_URL")
ALL_VARS = ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", *SMS_VARS)


# -- configuration ---------------------------------------------------------------------------------


def sms_config(env: Dict[str, str]) -> Optional[TwilioConfig]:
    return load_config("twilio_sms", "TWILIO_SMS_FROM", "TWILIO_WHATSAPP_FROM", r"\+[0-9]+", env)


def test_no_variables_means_channel_off() -> None:
    assert sms_config({}) is None
    assert sms_config({"TWILIO_API_BASE_URL": "http://127.0.0.1:1"}) is None


def test_sms_only_setup_leaves_whatsapp_off() -> None:
    env = {k: v for k, v in tw.environment("https://api.twilio.com").items() if k != "TWILIO_WHATSAPP_FROM"}
    config = sms_config(env)
    assert config is not None and config.from_address == tw.SMS_FROM
    assert (
        load_config("twilio_whatsapp", "TWILIO_WHATSAPP_FROM", "TWILIO_SMS_FROM", "whatsapp:.+", env) is None
    )


def test_some_variables_set_fails_naming_the_missing_ones() -> None:
    with pytest.raises(ConfigError) as error:
        sms_config({"TWILIO_ACCOUNT_SID": tw.ACCOUNT_SID})
    message = str(error.value)
    for name in ("TWILIO_AUTH_TOKEN", "TWILIO_PUBLIC_BASE_URL", "TWILIO_SMS_FROM"):
        assert name in message
    assert "TWILIO_ACCOUNT_SID" not in message.split("not")[-1]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("TWILIO_ACCOUNT_SID", "SK123"),
        ("TWILIO_PUBLIC_BASE_URL", "not a url"),
        ("TWILIO_API_BASE_URL", "ftp://x"),
        ("TWILIO_WHATSAPP_FROM", "+14155238886"),  # the whatsapp: prefix is required
    ],
)
def test_bad_values_fail_at_start_naming_the_variable(monkeypatch: pytest.MonkeyPatch, name, value) -> None:
    for key, setting in tw.environment("https://api.twilio.com").items():
        monkeypatch.setenv(key, setting)
    monkeypatch.setenv(name, value)
    channel = TwilioWhatsAppInput if name == "TWILIO_WHATSAPP_FROM" else sms.TwilioSmsInput
    with pytest.raises(ConfigError, match=name):
        channel.from_credentials(None)


def test_unconfigured_channel_loads_warns_and_answers_503(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    for name in ALL_VARS:
        monkeypatch.delenv(name, raising=False)
    with caplog.at_level(logging.WARNING):
        channel = sms.TwilioSmsInput.from_credentials(None)
    assert "twilio_sms is not configured" in caplog.text and "TWILIO_SMS_FROM" in caplog.text
    reply = asyncio.run(channel.webhook(request(SMS_PATH, b"", ""), never_called))
    assert (reply.status, reply.body) == (503, b"channel not configured")
    assert channel.get_output_channel() is None


# -- signature ---------------------------------------------------------------------------------------


def test_signature_valid_against_the_public_url() -> None:
    pairs = tw.form("sms_text")
    validator = sms.RequestValidator(tw.AUTH_TOKEN)
    url = tw.PUBLIC_BASE_URL + SMS_PATH
    inbound = sms.authenticate(
        validator, tw.PUBLIC_BASE_URL, SMS_PATH, "", tw.encode(pairs), tw.sign(url, pairs)
    )
    assert (inbound.address, inbound.text, inbound.num_media) == (
        "+15558675310",
        "Can I bring a power bank?",
        0,
    )


@pytest.mark.parametrize(
    ("case", "status"),
    [("forged", 403), ("missing", 403), ("wrong_url", 403), ("tampered", 403), ("other_path", 403)],
)
def test_signature_rejections(case: str, status: int) -> None:
    pairs = tw.form("sms_text")
    public = tw.PUBLIC_BASE_URL + SMS_PATH
    signature = {
        "forged": tw.sign(public, pairs, token="f" * 32),
        "missing": "",
        "wrong_url": tw.sign("http://127.0.0.1:5005" + SMS_PATH, pairs),  # the URL behind the proxy
        "tampered": tw.sign(public, pairs),
        "other_path": tw.sign(tw.PUBLIC_BASE_URL + WHATSAPP_PATH, pairs),
    }[case]
    body = tw.encode(tw.form("sms_text", Body="STOP")) if case == "tampered" else tw.encode(pairs)
    with pytest.raises(sms.Rejected) as rejected:
        sms.authenticate(
            sms.RequestValidator(tw.AUTH_TOKEN), tw.PUBLIC_BASE_URL, SMS_PATH, "", body, signature
        )
    assert rejected.value.status == status


@pytest.mark.parametrize(
    ("raw", "reason"),
    [(b"Body=\xff\xfe&From=%2B1", "not UTF-8"), (b"Body=%FF%FE&From=%2B1", "not UTF-8")],
)
def test_non_utf8_bodies_are_a_400_with_the_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(sms.Rejected) as rejected:
        sms.authenticate(sms.RequestValidator(tw.AUTH_TOKEN), tw.PUBLIC_BASE_URL, SMS_PATH, "", raw, "sig")
    assert (rejected.value.status, reason in rejected.value.reason) == (400, True)


# -- outbound through the REST API -------------------------------------------------------------------


@pytest.fixture
def store(tmp_path: Path) -> OptOutStore:
    return OptOutStore(sa.create_engine(f"sqlite:///{tmp_path / 'travelbot.db'}", future=True))


def sender(
    store: OptOutStore, channel: str = "twilio_sms", api: str = "https://api.twilio.com"
) -> TwilioSender:
    env = tw.environment(api)
    config = TwilioConfig.parse_obj(
        {
            "account_sid": env["TWILIO_ACCOUNT_SID"],
            "auth_token": env["TWILIO_AUTH_TOKEN"],
            "from_address": tw.SMS_FROM if channel == "twilio_sms" else tw.WHATSAPP_FROM,
            "public_base_url": tw.PUBLIC_BASE_URL,
            "api_base_url": api,
        }
    )
    return TwilioSender(channel, config, lambda: store, backoff_s=0.01)


@pytest.fixture(params=["sync", "async"])
def api_both(request: pytest.FixtureRequest) -> Iterator[tw.FakeApi]:
    """Each outbound test runs twice: the staff console's way (sync) and the webhooks' (async)."""
    with tw.FakeApi(request.param) as fake:
        yield fake


def test_send_posts_exactly_to_from_and_body(store: OptOutStore, api_both: tw.FakeApi) -> None:
    api_both.answer("message_created")
    result = api_both.send(sender(store), "+15558675310", ["Power banks: carry-on bag only."])
    assert result.ok and result.sids == [tw.api_json("message_created")["sid"]]
    assert api_both.posted() == [
        {"To": ["+15558675310"], "From": [tw.SMS_FROM], "Body": ["Power banks: carry-on bag only."]}
    ]
    assert api_both.authorizations() == [tw.basic_auth()]


@pytest.mark.parametrize("first", ["error_503", "error_429", "connection"])
def test_transient_failure_is_retried_then_sent(store: OptOutStore, api_both: tw.FakeApi, first: str) -> None:
    if first == "connection":
        api_both.drop_connection()
    else:
        api_both.answer(first)
    api_both.answer("message_created")
    result = api_both.send(sender(store), "+15558675310", ["hello"])
    posted = api_both.posted()
    assert result.ok and len(posted) == 2 and posted[0] == posted[1]


def test_give_up_is_logged_not_raised(
    store: OptOutStore, api_both: tw.FakeApi, caplog: pytest.LogCaptureFixture
) -> None:
    for _ in range(3):
        api_both.answer("error_503")
    with caplog.at_level(logging.WARNING):
        result = api_both.send(sender(store), "+15558675310", ["hello", "second part"])
    assert not result.ok and result.skipped == "failed: HTTP 503, Twilio error 20503"
    assert len(api_both.posted()) == 3  # three tries of the first part; the second is not attempted
    assert "gave up sending to …5310" in caplog.text and "got 0 of 2 messages" in caplog.text
    assert "+15558675310" not in caplog.text  # numbers are masked in logs


def test_permanent_error_is_not_retried(store: OptOutStore, api_both: tw.FakeApi) -> None:
    api_both.answer("error_21211")
    result = api_both.send(sender(store), "+1555867531", ["hello"])
    assert not result.ok and len(api_both.posted()) == 1


def test_opted_out_numbers_get_nothing_and_twilio_21610_records_an_opt_out(
    store: OptOutStore, api_both: tw.FakeApi
) -> None:
    store.opt_out("twilio_sms", "+15550001111", "STOP")
    assert api_both.send(sender(store), "+15550001111", ["hello"]).skipped == "opted out"
    assert api_both.posted() == []
    api_both.answer("error_21610")
    assert not api_both.send(sender(store), "+15550002222", ["hello"]).ok
    assert store.is_opted_out("twilio_sms", "+15550002222")
    assert api_both.send(sender(store), "+15550002222", ["again"]).skipped == "opted out"
    assert len(api_both.posted()) == 1


@pytest.mark.parametrize("way", ["sync", "async"])
def test_api_base_url_is_honoured(store: OptOutStore, way: str) -> None:
    local = "http://127.0.0.1:8099"
    with tw.FakeApi(way, url=local + tw.MESSAGES_PATH) as fake:
        fake.answer("message_created")
        assert fake.send(sender(store, api=local), "+15558675310", ["hi"]).ok
        assert len(fake.posted()) == 1


def test_the_webhooks_client_keeps_its_connection_per_event_loop(store: OptOutStore) -> None:
    """One aiohttp session per loop, reused for every message, closed by close_async."""
    kept = sender(store)

    async def sessions() -> List[Any]:
        first, second = kept.async_client().http_client, kept.async_client().http_client
        session = first.session
        await kept.close_async()
        return [first is second, session.closed, kept.async_client().http_client is first]

    assert asyncio.run(sessions()) == [True, True, False]


def test_agent_text_is_split_at_sentences_and_nothing_is_dropped() -> None:
    text = "We checked your case. " * 30
    bodies = sms.TwilioSmsInput.text_bodies(text)
    assert len(bodies) > 1 and all(len(b) <= 320 for b in bodies)
    assert " ".join(bodies) == text.strip()
    assert TwilioWhatsAppInput.text_bodies(text) == [text.strip()]


# -- the webhook, in process (everything that must not reach Rasa) ------------------------------


async def never_called(message: Any) -> None:
    raise AssertionError(f"Rasa must not see this message: {message.text!r}")


def request(path: str, raw: bytes, signature: str) -> Request:
    headers = Header({"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature})
    no_connection: Any = None  # the webhook reads only path, query, headers and body
    app = Sanic.get_app("twilio-test", force_create=True)
    made = Request(path.encode(), headers, "1.1", "POST", no_connection, app)
    made.body = raw
    return made


@pytest.fixture
def api() -> Iterator[tw.FakeApi]:
    """The webhook sends on the event loop (aiohttp); every send is accepted."""
    with tw.FakeApi("async") as fake:
        fake.answer("message_created", repeat=True)
        yield fake


@pytest.fixture
def channel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, api: tw.FakeApi) -> sms.TwilioSmsInput:
    """The SMS channel on a temporary database (the runtime stores are the real classes)."""
    handoffs = HandoffStore(f"sqlite:///{tmp_path / 'travelbot.db'}")
    monkeypatch.setattr(runtime, "_store", handoffs)
    monkeypatch.setattr(runtime, "_stores", {})  # the other stores are built on that engine
    for key, value in tw.environment("https://api.twilio.com").items():
        monkeypatch.setenv(key, value)
    channel = sms.TwilioSmsInput.from_credentials(None)
    assert isinstance(channel, sms.TwilioSmsInput)
    return channel


def call(channel: sms.TwilioSmsInput, pairs: tw.Form, signature: Optional[str] = None) -> Any:
    sig = tw.sign(tw.PUBLIC_BASE_URL + SMS_PATH, pairs) if signature is None else signature

    async def webhook_then_close() -> Any:
        try:
            return await channel.webhook(request(SMS_PATH, tw.encode(pairs), sig), never_called)
        finally:
            assert channel.sender is not None
            await channel.sender.close_async()

    return asyncio.run(webhook_then_close())


def bodies(api: tw.FakeApi) -> List[str]:
    return [form["Body"][0] for form in api.posted()]


def delivery_rows(sid: str) -> int:
    with runtime.delivery_log().engine.connect() as conn:
        query = sa.text("select count(*) from deliveries where message_id = :sid")
        return int(conn.execute(query, {"sid": sid}).scalar_one())


def test_forged_or_unsigned_webhook_is_403_and_nothing_is_recorded(
    channel: sms.TwilioSmsInput, api: tw.FakeApi
) -> None:
    pairs = tw.form("sms_text", MessageSid=tw.new_sid(), Body="HELP")
    forged = tw.sign(tw.PUBLIC_BASE_URL + SMS_PATH, pairs, token="x" * 32)
    assert call(channel, pairs, signature=forged).status == 403
    assert call(channel, pairs, signature="").status == 403
    assert delivery_rows(dict(pairs)["MessageSid"]) == 0 and bodies(api) == []


def test_non_utf8_webhook_is_400_not_500(channel: sms.TwilioSmsInput) -> None:
    reply = asyncio.run(channel.webhook(request(SMS_PATH, b"Body=%C3%28&From=x", "sig"), never_called))
    assert reply.status == 400 and b"not UTF-8" in (reply.body or b"")


def test_media_only_gets_a_polite_text_and_a_redelivery_nothing(
    channel: sms.TwilioSmsInput, api: tw.FakeApi
) -> None:
    pairs = tw.form("sms_media_only", MessageSid=tw.new_sid("MM"))
    first = call(channel, pairs)
    assert first.status == 200 and first.content_type == "text/xml" and b"<Response" in first.body
    assert call(channel, pairs).status == 200  # Twilio retried the same MessageSid
    assert bodies(api) == [sms.MEDIA_TEXT]
    assert api.posted()[0]["To"] == [dict(pairs)["From"]]


def test_help_and_too_long_are_answered_without_rasa(channel: sms.TwilioSmsInput, api: tw.FakeApi) -> None:
    call(channel, tw.form("sms_text", MessageSid=tw.new_sid(), Body=" help "))
    call(channel, tw.form("sms_text", MessageSid=tw.new_sid(), Body="x" * (sms.MAX_BODY_CHARS + 1)))
    assert bodies(api) == [sms.HELP_TEXT, sms.TOO_LONG_TEXT]


def test_stop_silences_the_number_until_start(channel: sms.TwilioSmsInput, api: tw.FakeApi) -> None:
    number = tw.new_number()
    for body in ("Stop", "Can I bring a power bank?", "HELP"):
        assert (
            call(channel, tw.form("sms_text", MessageSid=tw.new_sid(), From=number, Body=body)).status == 200
        )
    assert bodies(api) == []  # nothing at all is sent to an opted-out number
    assert runtime.opt_out_store().is_opted_out("twilio_sms", number)
    call(channel, tw.form("sms_text", MessageSid=tw.new_sid(), From=number, Body="start"))
    assert bodies(api) == [sms.START_TEXT]
    assert not runtime.opt_out_store().is_opted_out("twilio_sms", number)


def test_a_message_is_answered_even_when_the_delivery_log_is_down(
    channel: sms.TwilioSmsInput,
    api: tw.FakeApi,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Twilio drops an SMS whose webhook failed (unless a fallback URL is set): a 500 would lose it."""
    (tmp_path / "not-a-folder").write_text("")  # the log's database cannot be created under a file
    broken = f"sqlite:///{tmp_path / 'not-a-folder' / 'd.db'}"
    monkeypatch.setattr(runtime, "delivery_log", lambda: DeliveryLog(sa.create_engine(broken, future=True)))
    pairs = tw.form("sms_media_only", MessageSid=tw.new_sid("MM"))
    with caplog.at_level(logging.ERROR, logger="travelbot.deliveries"):
        assert call(channel, pairs).status == 200
    assert bodies(api) == [sms.MEDIA_TEXT]
    assert "delivery log unavailable" in caplog.text  # the failure path was taken, and logged
