"""Messenger end to end: the real Rasa server and action server, Meta's Graph API faked locally.

The Rasa server runs in a subprocess, so the Graph API is stood in for by a
small HTTP server in this process (FB_GRAPH_URL points at it) that records
every Send API body and answers with Meta's recorded reply.

Nothing here waits a fixed time. To show that something did NOT happen (a
redelivery, a forged post), the test then sends a real message from the same
traveler and waits for its reply: Rasa handles one conversation's messages in
order, so once that reply is in, a reply to the earlier post would be too.
"""

from __future__ import annotations

import json
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import ThreadingHTTPServer
from typing import Any, Dict, Iterator, List, Tuple
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from channels.messenger import ATTACHMENT_REPLY
from tests.messenger_payloads import PAGE_ID, body, event, load, new_mid, new_psid, sign
from tests.provider_stub import JsonHandler
from tests.servers import Servers, start_servers

pytestmark = pytest.mark.slow

SECRET = "live-test-app-secret"
PAGE_TOKEN = "live-test-page-token"
VERIFY_TOKEN = "live-test-verify-token"
WAIT_S = 180  # an upper bound on a reply, not an expectation


class FakeGraph:
    """Stands in for graph.facebook.com: records Send API calls and answers like Meta does."""

    def __init__(self) -> None:
        self.calls: List[Tuple[str, Dict[str, Any]]] = []  # (access_token, body)
        self.changed = threading.Condition()
        graph = self

        class Handler(JsonHandler):
            def do_POST(self) -> None:
                url = urlsplit(self.path)
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if url.path != "/v19.0/me/messages":
                    self._reply(404, {"error": {"message": "unknown path", "code": 803}})
                    return
                sent = json.loads(raw)
                with graph.changed:
                    graph.calls.append((parse_qs(url.query).get("access_token", [""])[0], sent))
                    graph.changed.notify_all()
                self._reply(200, dict(load("send_ok"), recipient_id=sent["recipient"]["id"]))

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v19.0"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def to(self, psid: str) -> List[Dict[str, Any]]:
        with self.changed:
            return [sent for _, sent in self.calls if sent["recipient"]["id"] == psid]

    def wait_for(self, psid: str, count: int) -> List[Dict[str, Any]]:
        """The sends to ``psid`` once there are at least ``count`` of them."""
        deadline = time.monotonic() + WAIT_S
        with self.changed:
            while len(self.to(psid)) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no reply to {psid} within {WAIT_S} s; got {self.to(psid)}")
                self.changed.wait(left)
            return self.to(psid)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def graph() -> Iterator[FakeGraph]:
    fake = FakeGraph()
    yield fake
    fake.close()


@pytest.fixture(scope="module")
def live(graph: FakeGraph, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    env = {
        "FB_VERIFY_TOKEN": VERIFY_TOKEN,
        "FB_APP_SECRET": SECRET,
        "FB_PAGE_ACCESS_TOKEN": PAGE_TOKEN,
        "FB_GRAPH_URL": graph.url,
    }
    with start_servers(tmp_path_factory.mktemp("messenger"), extra_env=env) as running:
        yield running


def post(live: Servers, raw: bytes, signature: Any = "sign") -> requests.Response:
    headers = {"Content-Type": "application/json"}
    header = sign(raw, SECRET) if signature == "sign" else signature
    if header is not None:
        headers["X-Hub-Signature-256"] = header
    return requests.post(f"{live.rasa_url}/webhooks/messenger/webhook", data=raw, headers=headers, timeout=60)


def text_of(sent: Dict[str, Any]) -> str:
    return str(sent["message"]["text"])


def user_texts(live: Servers, psid: str, last: str = "") -> List[str]:
    """The traveler's messages in Rasa's tracker, once the one ending in ``last`` is saved.

    Rasa sends the replies before it saves the tracker, so a reply can arrive first.
    """
    deadline = time.monotonic() + WAIT_S
    while True:
        texts = [e["text"] for e in live.tracker(psid)["events"] if e["event"] == "user"]
        if not last or (texts and texts[-1] == last) or time.monotonic() > deadline:
            return texts
        time.sleep(0.2)


def rest_reply(live: Servers, question: str) -> Tuple[str, Dict[str, Any]]:
    """What the REST channel gives a new traveler for ``question``: the text and the custom dict."""
    messages = live.say(f"rest-{new_psid()}", question)
    text = "\n\n".join(m["text"] for m in messages if "text" in m)  # REST splits at blank lines
    [custom] = [m["custom"] for m in messages if "custom" in m]
    return text, custom


def test_verification_handshake(live: Servers) -> None:
    url = f"{live.rasa_url}/webhooks/messenger/webhook"
    args = {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1158201444"}
    ok = requests.get(url, params=args, timeout=30)
    assert (ok.status_code, ok.text) == (200, "1158201444")
    assert ok.headers["Content-Type"].startswith("text/plain")
    assert requests.get(url, params=dict(args, **{"hub.verify_token": "nope"}), timeout=30).status_code == 403


def test_question_gets_exactly_one_reply_matching_rest_and_redeliveries_none(
    live: Servers, graph: FakeGraph
) -> None:
    psid = new_psid()
    raw = body(event("text_message", psid, text="can I bring a power bank"))
    first = post(live, raw)
    assert (first.status_code, first.json()) == (200, {"accepted": 1, "duplicates": 0, "ignored": 0})
    [answer] = graph.wait_for(psid, 1)

    rest_text, custom = rest_reply(live, "can I bring a power bank")
    assert custom["decision"] == "answer" and custom["entry_id"] == "power-banks"
    assert text_of(answer) == f"{rest_text}\n\nSource: {custom['source_url']}"
    assert answer["messaging_type"] == "RESPONSE" and "quick_replies" not in answer["message"]
    assert all(token == PAGE_TOKEN for token, _ in graph.calls)

    # Meta redelivers the same mid (one after another, then several at once): no second reply.
    again = [post(live, raw) for _ in range(3)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        again += list(pool.map(lambda _: post(live, raw), range(4)))
    assert all(r.status_code == 200 and r.json()["duplicates"] == 1 for r in again)
    post(live, body(event("text_message", psid, text="thanks")))
    graph.wait_for(psid, 2)
    assert user_texts(live, psid, last="thanks") == ["can I bring a power bank", "thanks"]
    replies = graph.to(psid)  # complete now: the last message's reply is sent before its tracker is saved
    assert len(replies) == 2 and replies[0] == answer
    print(f"\nFIGURE duplicate deliveries: {len(again)}, duplicate replies: {len(replies) - 2}")


def test_forged_posts_are_rejected_and_never_reach_rasa(live: Servers, graph: FakeGraph) -> None:
    psid = new_psid()
    raw = body(event("text_message", psid, text="can i bring a knife"))
    forged = [
        (raw, None),
        (raw, ""),
        (raw, "sha256=" + "0" * 64),
        (raw, sign(raw, "someone-elses-secret")),
        (raw.replace(b"a knife", b"a sword"), sign(raw, SECRET)),
        (raw, sign(raw, SECRET).replace("sha256=", "sha1=")),
        (raw, sign(raw, SECRET).upper()),
    ]
    statuses = [post(live, data, header).status_code for data, header in forged]
    rejected = statuses.count(403)
    assert rejected == len(forged), statuses

    post(live, body(event("text_message", psid, text="hello")))
    [reply] = graph.wait_for(psid, 1)
    assert user_texts(live, psid, last="hello") == ["hello"]
    assert len(graph.to(psid)) == 1
    assert "knife" not in text_of(reply) and "sword" not in text_of(reply)
    print(f"\nFIGURE forged requests rejected: {rejected} / {len(forged)}")


def test_echo_delivery_and_read_are_ignored(live: Servers, graph: FakeGraph) -> None:
    psid = new_psid()
    raw = body(event("echo", psid), event("delivery", psid), event("read", psid), event("text_message", psid))
    reply = post(live, raw)
    assert (reply.status_code, reply.json()) == (200, {"accepted": 1, "duplicates": 0, "ignored": 3})
    graph.wait_for(psid, 1)
    assert user_texts(live, psid, last="can I bring a power bank") == ["can I bring a power bank"]
    assert user_texts(live, PAGE_ID) == [] and graph.to(PAGE_ID) == []


def test_attachment_only_gets_a_polite_reply(live: Servers, graph: FakeGraph) -> None:
    psid = new_psid()
    assert post(live, body(event("attachment_only", psid))).status_code == 200
    [reply] = graph.wait_for(psid, 1)
    assert reply == {
        "recipient": {"id": psid},
        "messaging_type": "RESPONSE",
        "message": {"text": ATTACHMENT_REPLY},
    }


def test_very_long_message_gets_a_reply_not_a_500(live: Servers, graph: FakeGraph) -> None:
    psid = new_psid()
    long_text = ("can I bring a power bank in my carry on bag " * 120)[:5000]
    reply = post(live, body(event("text_message", psid, text=long_text)))
    assert reply.status_code == 200
    [sent] = graph.wait_for(psid, 1)
    assert 0 < len(text_of(sent)) <= 2000


def test_clarify_offers_quick_replies_and_a_tap_answers(
    live: Servers, graph: FakeGraph, clarify_question: Dict[str, Any]
) -> None:
    psid, question = new_psid(), clarify_question["question"]
    post(live, body(event("text_message", psid, text=question)))
    [offer] = graph.wait_for(psid, 1)
    replies = offer["message"].get("quick_replies")
    assert replies, offer
    assert 2 <= len(replies) <= 5
    assert all(len(r["title"]) <= 20 and r["payload"].startswith("/choose{") for r in replies)
    assert text_of(offer).splitlines()[-1] == "Tap a choice or type its number."
    assert "decision" not in text_of(offer)  # no JSON for the traveler
    tap = replies[1]
    post(live, body(event("quick_reply", psid, text=tap["title"], quick_reply={"payload": tap["payload"]})))
    answer = graph.wait_for(psid, 2)[1]
    rest_sender = f"rest-{new_psid()}"
    live.say(rest_sender, question)
    rest = live.say(rest_sender, tap["payload"])
    rest_text = "\n\n".join(m["text"] for m in rest if "text" in m)
    [custom] = [m["custom"] for m in rest if "custom" in m]
    assert custom["entry_id"] == json.loads(tap["payload"][len("/choose") :])["entry_id"]
    assert text_of(answer) == f"{rest_text}\n\nSource: {custom['source_url']}"


@pytest.mark.parametrize(
    ("raw", "reason"), [(b"{not json", "not valid JSON"), (b"\xff\xfe\x00", "UTF-8"), (b"[]", "JSON object")]
)
def test_malformed_signed_body_is_400_with_a_reason(live: Servers, raw: bytes, reason: str) -> None:
    reply = post(live, raw)
    assert reply.status_code == 400 and reason in reply.json()["error"]


def test_new_mid_for_same_text_is_answered_again(live: Servers, graph: FakeGraph) -> None:
    """Dedup is by message id, not by text: a traveler asking twice gets two answers."""
    psid = new_psid()
    for _ in range(2):
        post(live, body(event("text_message", psid, mid=new_mid(), text="do i need a real id")))
    assert len(graph.wait_for(psid, 2)) == 2


def test_health_says_configured(live: Servers) -> None:
    health = requests.get(f"{live.rasa_url}/webhooks/messenger/", timeout=30).json()
    assert health == {"status": "ok", "configured": True}


def test_without_credentials_the_server_starts_and_the_webhook_answers_503(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """`make run` with no FB_* set: everything starts, Messenger says it is not configured."""
    if any(var in os.environ for var in ("FB_VERIFY_TOKEN", "FB_APP_SECRET", "FB_PAGE_ACCESS_TOKEN")):
        pytest.skip("FB_* is set in this environment")
    workdir = tmp_path_factory.mktemp("messenger-off")
    with start_servers(workdir) as running:
        url = f"{running.rasa_url}/webhooks/messenger/webhook"
        raw = body(event("text_message"))
        reply = requests.post(url, data=raw, headers={"X-Hub-Signature-256": sign(raw, SECRET)}, timeout=30)
        assert (reply.status_code, reply.json()) == (503, {"error": "channel not configured"})
        assert requests.get(url, params={"hub.mode": "subscribe"}, timeout=30).status_code == 503
        assert running.say("rest-check", "hello")  # the other channels work
    assert "Messenger channel not configured" in (workdir / "rasa.log").read_text()
