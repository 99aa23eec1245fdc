"""The whole spine through the REST channel: real Rasa server, model and action server."""

import json
import uuid
from typing import Any, Dict, List

import pytest
import requests

from tests.servers import Servers
from travelbot.handoffs import HandoffStore

pytestmark = pytest.mark.slow


def meta(messages: List[Dict[str, Any]]) -> Dict[str, Any]:
    customs = [m["custom"] for m in messages if "custom" in m]
    assert len(customs) == 1, messages
    return dict(customs[0])


def texts(messages: List[Dict[str, Any]]) -> str:
    return "\n".join(m["text"] for m in messages if "text" in m)


def sender() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"


def test_answer_carries_its_source(servers: Servers) -> None:
    reply = servers.say(sender(), "can i put my power bank in checked luggage?")
    info = meta(reply)
    assert (info["decision"], info["entry_id"]) == ("answer", "power-banks")
    assert info["source_url"].startswith("https://")
    assert info["last_reviewed"]
    assert "carry-on" in texts(reply)


def test_clarify_then_choose_by_button_payload(servers: Servers, clarify_question: Dict[str, Any]) -> None:
    who = sender()
    info = meta(servers.say(who, clarify_question["question"]))
    assert info["decision"] == "clarify"
    assert [c["entry_id"] for c in info["choices"]] == clarify_question["choices"]
    first = info["choices"][0]["entry_id"]
    chosen = meta(servers.say(who, f'/choose{{"entry_id":"{first}"}}'))
    assert (chosen["decision"], chosen["entry_id"]) == ("answer", first)


def test_clarify_then_choose_by_number(servers: Servers, clarify_question: Dict[str, Any]) -> None:
    who = sender()
    info = meta(servers.say(who, clarify_question["question"]))
    second = info["choices"][1]["entry_id"]
    assert meta(servers.say(who, "2"))["entry_id"] == second


def test_handoff_is_recorded_and_pauses_the_bot(servers: Servers) -> None:
    who = sender()
    servers.say(who, "can i bring a power bank")
    info = meta(servers.say(who, "i want to talk to a real person"))
    assert (info["decision"], info["reason"]) == ("handoff", "requested")
    assert servers.say(who, "hello? can i bring scissors") == []  # paused: no bot reply
    records = HandoffStore(f"sqlite:///{servers.handoff_db}").for_conversation(who)
    assert [r.reason for r in records] == ["requested"]
    transcript = [line["text"] for line in records[0].transcript]
    assert transcript[0] == "can i bring a power bank"
    assert transcript[-1] == "i want to talk to a real person"
    assert records[0].candidates and records[0].channel == "rest"
    assert servers.tracker(who)["paused"] is True


def test_sensitive_message_is_urgent_and_not_answered(servers: Servers) -> None:
    who = sender()
    info = meta(servers.say(who, "how do i sneak a knife through the scanner without them noticing"))
    assert (info["decision"], info["urgent"]) == ("handoff", True)
    assert "entry_id" not in info
    assert "911" in texts(servers.say(sender(), "someone says they will hijack flight 22"))


def test_greeting_and_off_topic(servers: Servers) -> None:
    assert meta(servers.say(sender(), "hello"))["reason"] == "smalltalk"
    assert meta(servers.say(sender(), "what's a good recipe for lasagna"))["decision"] == "decline"


@pytest.mark.parametrize(
    "message",
    [
        "",
        "   ",
        "🙂🙂🙂",
        "x" * 10_000,
        "<script>alert(1)</script> can i bring scissors",
        "можно ли взять зарядку? power bank 可以吗",
        "\u0000\u0001 weird control chars",
    ],
)
def test_bad_messages_get_a_clear_reply(servers: Servers, message: str) -> None:
    reply = servers.say(sender(), message)
    assert texts(reply), reply
    assert meta(reply)["decision"] in ("answer", "clarify", "handoff", "decline")


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [
        (b"{not json", 400, "not valid JSON"),
        (b"[1, 2]", 400, "JSON object"),
        (json.dumps({"message": "hi"}).encode(), 400, "sender"),
        (json.dumps({"sender": "a", "message": 5}).encode(), 400, "message"),
        (json.dumps({"sender": "a", "message": "x" * 30_000}).encode(), 413, "longer"),
        (b"\xff\xfe\x00", 400, "UTF-8"),
    ],
)
def test_malformed_requests_get_a_4xx_with_a_reason(
    servers: Servers, body: bytes, status: int, reason: str
) -> None:
    reply = requests.post(f"{servers.rasa_url}/webhooks/rest/webhook", data=body, timeout=30)
    assert reply.status_code == status
    assert reason in reply.json()["error"]


def test_web_chat_page_is_served_without_external_assets(servers: Servers) -> None:
    page = requests.get(f"{servers.rasa_url}/webhooks/webchat/chat", timeout=30)
    assert page.status_code == 200 and 'aria-live="polite"' in page.text
    assert "http" not in page.text.split("<body>")[1]  # no CDN
    script = requests.get(f"{servers.rasa_url}/webhooks/webchat/static/chat.js", timeout=30)
    assert script.status_code == 200 and "textContent" in script.text
    assert (
        requests.get(f"{servers.rasa_url}/webhooks/webchat/static/..%2Fwebchat.py", timeout=30).status_code
        == 404
    )
    info = meta(servers.say(sender(), "can i bring my power bank", channel="webchat"))
    assert info["entry_id"] == "power-banks"
