"""The per-sender limit: its counting (memory and Redis), its setting, and each channel's polite refusal.

The limits are real ``limits`` moving windows. Redis is the local server the
scaled mode uses (skipped when it is not running, failed instead under CI).
Channels are the real channel objects: REST over real HTTP (the Sanic server
of tests/channel_server.py), Twilio and Messenger through their webhook
methods, with Twilio's and Meta's APIs intercepted at the HTTP boundary.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import uuid
from pathlib import Path
from typing import Any, Iterator, List, Optional, Tuple

import pytest
import redis
import requests
import sqlalchemy as sa
from aioresponses import aioresponses
from limits import parse
from limits.storage import MemoryStorage, RedisStorage
from sanic import Sanic
from sanic.compat import Header
from sanic.request import Request

from channels import rate_limit
from channels import twilio_sms as sms
from channels.messenger import MessengerWebhook
from channels.rate_limit import LIMITED_TEXT, PrunedMemoryStorage, SenderLimit, Verdict
from channels.rest import RestChannel
from channels.twilio_client import load_config
from tests import messenger_payloads as fb
from tests import twilio_payloads as tw
from tests.channel_server import ChannelServer, Rasa
from travelbot import runtime, services
from travelbot.deliveries import DeliveryLog
from travelbot.handoffs import HandoffStore
from travelbot.settings import ConfigError, Settings, load_settings

SMS_PATH = "/webhooks/twilio_sms/webhook"
API_URL = f"https://api.twilio.com{tw.MESSAGES_PATH}"
REDIS_URL = os.environ.get(services.REDIS_URL_ENV) or services.DEFAULT_REDIS_URL
WAIT_S = 30


def hourly(amount: int) -> SenderLimit:
    """A limit whose window cannot pass during a test, however loaded the machine."""
    return SenderLimit(parse(f"{amount}/hour"), PrunedMemoryStorage())


# -- counting -----------------------------------------------------------------------------------------


def test_over_the_limit_the_sender_is_told_once_then_silently_dropped() -> None:
    limit = hourly(3)
    verdicts = [limit.check("twilio_sms", "+15550001").verdict for _ in range(7)]
    assert verdicts == [Verdict.ALLOW] * 3 + [Verdict.NOTIFY] + [Verdict.SILENT] * 3
    refused = limit.check("twilio_sms", "+15550001")
    assert not refused.allowed and 3500 < refused.retry_after_s <= 3600


def test_senders_and_channels_are_counted_apart() -> None:
    limit = hourly(1)
    assert limit.check("rest", "a").allowed
    assert not limit.check("rest", "a").allowed
    assert limit.check("rest", "b").allowed
    assert limit.check("webchat", "a").allowed


def test_a_sender_may_send_again_once_the_window_has_moved_on() -> None:
    limit = SenderLimit(parse("1 per 2 seconds"), PrunedMemoryStorage())
    assert limit.check("rest", "a").allowed
    assert limit.check("rest", "a").verdict is Verdict.NOTIFY
    deadline = time.monotonic() + WAIT_S
    while not limit.check("rest", "a").allowed:  # the window is time itself: wait for it, bounded
        assert time.monotonic() < deadline, "the window never moved on"
        time.sleep(0.2)
    assert limit.check("rest", "a").verdict is Verdict.NOTIFY  # a new window: told once more


def test_hits_sweep_expired_entries_and_empty_keys_and_nothing_else_without_a_thread() -> None:
    """Hits run our sweep (at most once a second): expired entries go, live ones and their verdicts stay,
    and the library's timer thread is never restarted (its first, from the constructor, is the only one)."""
    storage = PrunedMemoryStorage()
    first_timer = storage.timer
    short, long = SenderLimit(parse("2 per 1 second"), storage), SenderLimit(parse("2/hour"), storage)
    assert short.check("rest", "a").allowed and long.check("rest", "b").allowed
    deadline = time.monotonic() + WAIT_S
    while any("rest/a" in key for key in storage.events):
        assert time.monotonic() < deadline, f"expired entries were never swept: {storage.events}"
        long.check("rest", "c")
        time.sleep(0.1)
    assert storage.timer is first_timer
    assert [len(entries) for key, entries in storage.events.items() if "/rest/b/" in key] == [1]
    assert long.check("rest", "b").allowed and not long.check("rest", "b").allowed
    assert [short.check("rest", "a").allowed for _ in range(3)] == [True, True, False]


def test_the_pruned_storage_counts_as_the_librarys_own() -> None:
    ours, theirs = hourly(3), SenderLimit(parse("3/hour"), MemoryStorage())
    senders = [f"s{n % 4}" for n in range(25)]
    assert [ours.check("sms", s) for s in senders] == [theirs.check("sms", s) for s in senders]


def redis_or_skip() -> redis.Redis:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"Redis at {REDIS_URL} is not reachable under CI: {exc}")
        pytest.skip(f"Redis at {REDIS_URL} is not reachable: {exc}")
    return client


def test_in_the_scaled_mode_every_rasa_server_counts_in_the_same_redis() -> None:
    redis_or_skip()
    namespace = f"test-rate-{uuid.uuid4().hex[:8]}"  # keys of this run only; they expire with the window
    servers = [SenderLimit(parse("4/hour"), RedisStorage(REDIS_URL), namespace) for _ in range(2)]
    verdicts = [servers[i % 2].check("twilio_sms", "+15550002").verdict for i in range(7)]
    assert verdicts == [Verdict.ALLOW] * 4 + [Verdict.NOTIFY, Verdict.SILENT, Verdict.SILENT]


def test_redis_down_lets_messages_through_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    unreachable = RedisStorage("redis://127.0.0.1:9/0", socket_connect_timeout=2, socket_timeout=2)
    limit = SenderLimit(parse("1/hour"), unreachable)
    with caplog.at_level(logging.ERROR, logger="channels.rate_limit"):
        assert all(asyncio.run(limit.admit("rest", "a")).allowed for _ in range(3))
    assert "rate limit storage unavailable" in caplog.text


# -- the setting --------------------------------------------------------------------------------------


def settings_file(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "travelbot.yml"
    path.write_text(body, encoding="utf-8")
    return path


@pytest.mark.parametrize("value", ["lots", "0/minute", "20/fortnight"])
def test_a_bad_rate_stops_the_start_naming_the_key(tmp_path: Path, value: str) -> None:
    with pytest.raises(ConfigError, match=r"rate_limit\.per_sender"):
        load_settings(settings_file(tmp_path, f"rate_limit:\n  per_sender: {value}\n"))


def test_the_setting_picks_the_rate_and_the_storage(tmp_path: Path) -> None:
    config = load_settings(settings_file(tmp_path, "rate_limit:\n  per_sender: 5 per 10 seconds\n"))
    embedded = rate_limit.from_settings(config, {})
    assert (embedded.rate.amount, embedded.window_s) == (5, 10)
    assert isinstance(embedded.storage, PrunedMemoryStorage)
    scaled = Settings.parse_obj({"storage": {"backend": "postgresql"}})
    shared = rate_limit.from_settings(scaled, {services.REDIS_PREFIX_ENV: "tb2"})
    assert isinstance(shared.storage, RedisStorage) and shared.rate.namespace == "tb2-rate"
    assert Settings().rate_limit.per_sender == "20/minute"


# -- REST: 429 with a reason -------------------------------------------------------------------------


@pytest.fixture
def rest_server() -> Iterator[Tuple[ChannelServer, Rasa]]:
    rasa = Rasa()
    with ChannelServer([RestChannel(hourly(2))], rasa) as server:
        yield server, rasa


def test_rest_answers_429_with_a_reason_and_the_message_never_reaches_rasa(
    rest_server: Tuple[ChannelServer, Rasa],
) -> None:
    server, rasa = rest_server
    url = f"{server.url}/webhooks/rest/webhook"
    replies = [requests.post(url, json={"sender": "flood", "message": f"q{i}"}, timeout=60) for i in range(4)]
    assert [r.status_code for r in replies] == [200, 200, 429, 429]
    assert "too many messages" in replies[2].json()["error"]
    assert 0 < int(replies[2].headers["Retry-After"]) <= 3600
    assert [m.text for m in rasa.messages] == ["q0", "q1"]
    other = requests.post(url, json={"sender": "calm", "message": "hi"}, timeout=60)
    assert other.status_code == 200


def test_rest_counts_each_client_address_whatever_sender_it_claims() -> None:
    rasa = Rasa()
    with ChannelServer([RestChannel(hourly(100), hourly(3))], rasa) as server:
        url = f"{server.url}/webhooks/rest/webhook"
        replies = [
            requests.post(url, json={"sender": f"new-id-{i}", "message": f"q{i}"}, timeout=60)
            for i in range(4)
        ]
    assert [r.status_code for r in replies] == [200, 200, 200, 429]
    assert "too many messages from this network address" in replies[3].json()["error"]
    assert int(replies[3].headers["Retry-After"]) > 0
    assert [m.text for m in rasa.messages] == ["q0", "q1", "q2"]


def test_behind_a_trusted_proxy_the_forwarded_client_address_is_counted() -> None:
    rasa = Rasa()
    with ChannelServer([RestChannel(hourly(100), hourly(1), trusted_proxies=1)], rasa) as server:
        url = f"{server.url}/webhooks/rest/webhook"

        def post(sender: str, forwarded: str) -> int:
            body = {"sender": sender, "message": "hi"}
            headers = {"X-Forwarded-For": forwarded}
            return requests.post(url, json=body, headers=headers, timeout=60).status_code

        # what a client wrote itself stays on the left; the proxy appends the address it saw
        assert post("a", "1.1.1.1, 203.0.113.5") == 200
        assert post("b", "203.0.113.6") == 200
        assert post("c", "9.9.9.9, 203.0.113.5") == 429


@pytest.mark.parametrize(
    ("peer", "forwarded", "proxies", "expected"),
    [
        ("10.0.0.2", None, 0, "10.0.0.2"),
        ("10.0.0.2", "6.6.6.6", 0, "10.0.0.2"),  # no proxy trusted: a client-written header is ignored
        ("10.0.0.2", "6.6.6.6, 203.0.113.5", 1, "203.0.113.5"),
        ("10.0.0.2", "6.6.6.6, 203.0.113.5, 10.0.0.9", 2, "203.0.113.5"),
        ("10.0.0.2", "203.0.113.5", 2, "10.0.0.2"),  # fewer hops than proxies: not trusted
        ("", None, 0, "unknown"),
    ],
)
def test_the_client_address(peer: str, forwarded: Optional[str], proxies: int, expected: str) -> None:
    assert rate_limit.client_address(peer, forwarded, proxies) == expected


def test_inside_rasas_own_server_app_the_limits_hold() -> None:
    """Rasa's app (its CORS, HTTP API and error handling) around the channel: no model needed to refuse."""
    from rasa.core.run import configure_app

    channel = RestChannel(hourly(1))
    app = configure_app(input_channels=[channel], cors="*", auth_token="test-token", enable_api=True)
    with ChannelServer([], Rasa(), app) as server:
        url = f"{server.url}/webhooks/rest/webhook"
        too_big = requests.post(url, data=b"x" * (1024 * 1024), timeout=60)
        assert too_big.status_code == 413 and "larger than" in too_big.json()["error"]
        requests.post(url, json={"sender": "a", "message": "hi"}, timeout=60)  # counted (no model: a 503)
        limited = requests.post(url, json={"sender": "a", "message": "hi"}, timeout=60)
        assert limited.status_code == 429 and limited.headers["Retry-After"]


# -- SMS: one notice per window, STOP always honoured ------------------------------------------------


Texting = Tuple[sms.TwilioSmsInput, tw.FakeApi]


@pytest.fixture
def texting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Texting]:
    """The SMS channel (limit: 2 an hour) on a temporary database, Twilio's API intercepted."""
    monkeypatch.setattr(runtime, "_store", HandoffStore(f"sqlite:///{tmp_path / 'travelbot.db'}"))
    monkeypatch.setattr(runtime, "_stores", {})
    env = tw.environment("https://api.twilio.com")
    config = load_config("twilio_sms", "TWILIO_SMS_FROM", "TWILIO_WHATSAPP_FROM", r"\+[0-9]+", env)
    with tw.FakeApi("async") as api:
        api.answer("message_created", repeat=True)
        yield sms.TwilioSmsInput(config, hourly(2)), api


def text(channel: sms.TwilioSmsInput, rasa: Rasa, number: str, body: str) -> int:
    """One signed webhook call from ``number``; the HTTP status it was answered with."""
    pairs = tw.form("sms_text", MessageSid=tw.new_sid(), From=number, Body=body)
    signature = tw.sign(tw.PUBLIC_BASE_URL + SMS_PATH, pairs)
    headers = Header({"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature})
    no_connection: Any = None  # the webhook reads only path, query, headers and body
    app = Sanic.get_app("rate-limit-test", force_create=True)
    request = Request(SMS_PATH.encode(), headers, "1.1", "POST", no_connection, app)
    request.body = tw.encode(pairs)

    async def webhook_then_close() -> int:
        try:
            return int((await channel.webhook(request, rasa)).status)
        finally:
            assert channel.sender is not None
            await channel.sender.close_async()

    return asyncio.run(webhook_then_close())


def sent_to(api: tw.FakeApi, number: str) -> List[str]:
    return [form["Body"][0] for form in api.posted() if form["To"] == [number]]


def test_a_flooding_texter_gets_one_notice_and_rasa_sees_only_the_allowed(texting: Texting) -> None:
    channel, api = texting
    rasa, number = Rasa(), tw.new_number()
    statuses = [text(channel, rasa, number, f"can i bring item {i}") for i in range(6)]
    assert statuses == [200] * 6  # Twilio must not retry a refused message
    assert [m.text for m in rasa.messages] == ["can i bring item 0", "can i bring item 1"]
    assert sent_to(api, number) == ["ok", "ok", LIMITED_TEXT]
    assert text(channel, rasa, number, "STOP") == 200  # opting out is never limited
    assert runtime.opt_out_store().is_opted_out("twilio_sms", number)


# -- Messenger: one notice per window ----------------------------------------------------------------


def test_a_flooding_messenger_sender_gets_one_notice(tmp_path: Path) -> None:
    log = DeliveryLog(sa.create_engine(f"sqlite:///{tmp_path / 'deliveries.db'}"))
    hook = MessengerWebhook(fb.config(), deliveries=lambda: log, client=fb.client(), limit=hourly(2))
    rasa, psid = Rasa(), fb.new_psid()
    raw = fb.body(*[fb.event("text_message", psid=psid) for _ in range(5)])

    async def run() -> int:
        status, _ = await hook.receive(raw, fb.sign(raw, fb.SECRET), rasa)
        await hook.drain()
        return status

    with aioresponses() as graph:
        for _ in range(5):
            graph.post(fb.SEND_URL, payload=fb.load("send_ok"))
        assert asyncio.run(run()) == 200
        sent = [s["message"]["text"] for s in fb.sent(graph)]
    assert len(rasa.messages) == 2
    assert sent == ["ok", "ok", LIMITED_TEXT]
