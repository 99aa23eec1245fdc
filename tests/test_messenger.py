"""Messenger webhook, in-process: signatures, handshake, configuration, events, dedup.

Meta's servers are the only stand-in: the Graph API is intercepted at the HTTP
boundary with aioresponses and answers with recorded replies. Deduplication
uses the real DeliveryLog on a throw-away SQLite file. The Rasa side of the
webhook is a recorder of the UserMessages it is handed; the real Rasa server
is exercised in test_messenger_live.py.
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest
import sqlalchemy as sa
from aioresponses import aioresponses
from rasa.core.channels.channel import UserMessage

from channels.messenger import (
    ATTACHMENT_REPLY,
    MessengerInput,
    MessengerOutput,
    MessengerWebhook,
    parse_events,
    signature_ok,
)
from tests.messenger_payloads import (
    ENV,
    PAGE_ID,
    SECRET,
    SEND_URL,
    body,
    client,
    config,
    event,
    load,
    new_psid,
    sent,
    sign,
)
from travelbot.deliveries import DeliveryLog
from travelbot.settings import ConfigError


class Rasa:
    """Records what the webhook hands to Rasa."""

    def __init__(self) -> None:
        self.messages: List[UserMessage] = []

    async def __call__(self, message: UserMessage) -> None:
        self.messages.append(message)


@pytest.fixture
def webhook(tmp_path: Path) -> MessengerWebhook:
    log = DeliveryLog(sa.create_engine(f"sqlite:///{tmp_path / 'deliveries.db'}"))
    return MessengerWebhook(config(), deliveries=lambda: log, client=client())


def post(hook: MessengerWebhook, raw: bytes, signature: Any = "sign") -> Tuple[int, Dict[str, Any], Rasa]:
    rasa = Rasa()
    header = sign(raw, SECRET) if signature == "sign" else signature

    async def run() -> Tuple[int, Dict[str, Any]]:
        result = await hook.receive(raw, header, rasa)
        await hook.drain()
        return result

    status, reply = asyncio.run(run())
    return status, reply, rasa


# --- signatures --------------------------------------------------------------------------------------


def test_signature_valid_forged_missing_other_secret_and_altered_body() -> None:
    raw = body(event("text_message"))
    assert signature_ok(SECRET, raw, sign(raw, SECRET))
    assert not signature_ok(SECRET, raw, "sha256=" + "0" * 64)
    assert not signature_ok(SECRET, raw, None)
    assert not signature_ok(SECRET, raw, "")
    assert not signature_ok(SECRET, raw, sign(raw, "another-apps-secret"))
    assert not signature_ok(SECRET, raw.replace(b"power bank", b"power bonk"), sign(raw, SECRET))
    assert not signature_ok(SECRET, raw, sign(raw, SECRET).replace("sha256=", "sha1="))
    assert not signature_ok(SECRET, raw, sign(raw, SECRET)[:-1] + "é")  # non-ASCII header: False, no error


@pytest.mark.parametrize("header", [None, "", "sha256=" + "ab" * 32, "garbage", "sign-other", "altered"])
def test_bad_signature_is_403_and_nothing_is_processed(webhook: MessengerWebhook, header: Any) -> None:
    raw = body(event("text_message"))
    if header == "sign-other":
        header = sign(raw, "another-apps-secret")
    if header == "altered":
        header, raw = sign(raw, SECRET), raw.replace(b"power bank", b"knife")
    with aioresponses() as graph:
        status, reply, rasa = post(webhook, raw, header)
        assert sent(graph) == []
    assert status == 403 and "X-Hub-Signature-256" in reply["error"]
    assert rasa.messages == []


# --- handshake and configuration ---------------------------------------------------------------------


def test_verification_handshake(webhook: MessengerWebhook) -> None:
    ok = {"hub.mode": "subscribe", "hub.verify_token": "verify-me", "hub.challenge": "1158201444"}
    assert webhook.verify(ok) == (200, "1158201444")
    assert webhook.verify(dict(ok, **{"hub.verify_token": "wrong"}))[0] == 403
    assert webhook.verify(dict(ok, **{"hub.mode": "unsubscribe"}))[0] == 403
    assert webhook.verify({"hub.challenge": "1"})[0] == 403


def test_unconfigured_channel_loads_warns_and_answers_503(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    for var in ENV:
        monkeypatch.delenv(var, raising=False)
    with caplog.at_level(logging.WARNING):
        channel = MessengerInput.from_credentials(None)
    assert "not configured" in caplog.text
    assert isinstance(channel, MessengerInput)
    assert channel.webhook.verify({"hub.mode": "subscribe"}) == (503, "channel not configured")
    status, reply, _ = post(channel.webhook, body(event("text_message")))
    assert (status, reply) == (503, {"error": "channel not configured"})


def test_partial_or_bad_configuration_fails_at_start_naming_the_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for var in ENV:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("FB_VERIFY_TOKEN", "verify-me")
    with pytest.raises(ConfigError, match="FB_APP_SECRET, FB_PAGE_ACCESS_TOKEN not set"):
        MessengerInput.from_credentials(None)
    monkeypatch.setenv("FB_APP_SECRET", "s")
    monkeypatch.setenv("FB_PAGE_ACCESS_TOKEN", "EAAGm0PX4ZCpsBA")
    monkeypatch.setenv("FB_GRAPH_URL", "not a url")
    with pytest.raises(ConfigError, match="FB_GRAPH_URL"):
        MessengerInput.from_credentials(None)
    monkeypatch.delenv("FB_GRAPH_URL")
    channel = MessengerInput.from_credentials(None)
    assert isinstance(channel, MessengerInput) and channel.webhook.config is not None
    assert channel.webhook.config.messages_url() == "https://graph.facebook.com/v19.0/me/messages"
    assert "EAAGm0PX4ZCpsBA" not in repr(channel.webhook.config)


# --- events ------------------------------------------------------------------------------------------


def test_text_quick_reply_and_postback_go_to_rasa(webhook: MessengerWebhook) -> None:
    psid = new_psid()
    raw = body(event("text_message", psid), event("quick_reply", psid), event("postback", psid))
    with aioresponses() as graph:
        status, reply, rasa = post(webhook, raw)
        assert sent(graph) == []
    assert (status, reply) == (200, {"accepted": 3, "duplicates": 0, "ignored": 0})
    assert [m.text for m in rasa.messages] == [
        "can I bring a power bank",
        '/choose{"entry_id":"deodorant-aerosol"}',
        '/choose{"entry_id":"power-banks"}',
    ]
    first = rasa.messages[0]
    assert (first.sender_id, first.input_channel) == (psid, "messenger")
    assert isinstance(first.output_channel, MessengerOutput)
    assert first.metadata is not None and first.metadata["page_id"] == PAGE_ID


def test_echo_delivery_and_read_are_ignored(webhook: MessengerWebhook) -> None:
    psid = new_psid()
    raw = body(event("echo", psid), event("delivery", psid), event("read", psid), event("text_message", psid))
    with aioresponses() as graph:
        status, reply, rasa = post(webhook, raw)
        assert sent(graph) == []
    assert (status, reply) == (200, {"accepted": 1, "duplicates": 0, "ignored": 3})
    assert [m.text for m in rasa.messages] == ["can I bring a power bank"]


def test_several_events_from_several_senders_are_each_handled(webhook: MessengerWebhook) -> None:
    a, b = new_psid(), new_psid()
    raw = body(event("text_message", a), event("text_message", b, text="do i need real id"))
    status, reply, rasa = post(webhook, raw)
    assert status == 200 and reply["accepted"] == 2
    assert sorted((m.sender_id, m.text) for m in rasa.messages) == sorted(
        [(a, "can I bring a power bank"), (b, "do i need real id")]
    )


def test_redelivered_mid_is_handled_once(webhook: MessengerWebhook) -> None:
    raw = body(event("text_message"))
    first = post(webhook, raw)
    again = [post(webhook, raw) for _ in range(3)]
    assert first[1] == {"accepted": 1, "duplicates": 0, "ignored": 0} and len(first[2].messages) == 1
    assert all(r[1] == {"accepted": 0, "duplicates": 1, "ignored": 0} for r in again)
    assert all(r[2].messages == [] for r in again)


def test_attachment_only_gets_a_polite_text_reply(webhook: MessengerWebhook) -> None:
    psid = new_psid()
    with aioresponses() as graph:
        graph.post(SEND_URL, payload=load("send_ok"))
        status, reply, rasa = post(webhook, body(event("attachment_only", psid)))
        assert sent(graph) == [
            {"recipient": {"id": psid}, "messaging_type": "RESPONSE", "message": {"text": ATTACHMENT_REPLY}}
        ]
    assert status == 200 and reply["accepted"] == 1 and rasa.messages == []


@pytest.mark.parametrize(
    ("raw", "status", "reason"),
    [
        (b"{not json", 400, "not valid JSON"),
        (b"\xff\xfe\x00", 400, "UTF-8"),
        (b"[1, 2]", 400, "JSON object"),
        (b'{"object": "page"}', 400, "'entry'"),
        (b'{"object": "page", "entry": [{"messaging": 5}]}', 400, "'messaging'"),
        (b'{"object": "page", "entry": [' + b'"x",' * 300_000 + b'"x"]}', 413, "larger"),
    ],
)
def test_malformed_signed_bodies_get_a_4xx_with_a_reason(
    webhook: MessengerWebhook, raw: bytes, status: int, reason: str
) -> None:
    got, reply, rasa = post(webhook, raw)
    assert got == status and reason in reply["error"]
    assert rasa.messages == []


def test_other_objects_and_odd_events_are_ignored_not_errors() -> None:
    insta = json.dumps({"object": "instagram", "entry": [{"id": "1", "messaging": [{}]}]}).encode()
    assert parse_events(insta) == ([], 1)
    odd = body({}, {"sender": {"id": "1"}}, {"sender": {"id": "1"}, "message": {"text": "no mid"}}, "x")
    assert parse_events(odd) == ([], 4)
    long_text = parse_events(body(event("text_message", text="x" * 50_000)))[0][0].text
    assert len(long_text) == 20_000


def test_a_failed_send_does_not_crash_the_conversation(webhook: MessengerWebhook) -> None:
    with aioresponses() as graph:
        graph.post(SEND_URL, status=500, body="boom", repeat=True)
        psid = new_psid()
        status, _, _ = post(webhook, body(event("attachment_only", psid)))
        assert status == 200 and len(sent(graph)) == 4
