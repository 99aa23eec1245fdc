"""Faults against the real servers: the action server dies mid-conversation (REST, SMS and Messenger
travelers each get an apology, then answers again); Twilio redelivers a slow turn; in the scaled mode,
Redis (the lock store) goes away and comes back.

The servers are this module's own (the action server gets killed here, so the
session's shared servers are not used). Only Twilio's API is replaced, by a
local HTTP server answering with the recorded JSON; here it can hold a reply
"in flight" until the test lets it go, which makes the slow turn deterministic
instead of timed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional
from urllib.parse import parse_qsl

import psutil
import pytest
import redis
import requests

from channels.silence import UNAVAILABLE_TEXT
from channels.twilio_sms import FAILED_TEXT
from tests import messenger_payloads as fb
from tests import twilio_payloads as tw
from tests.provider_stub import JsonHandler
from tests.servers import Servers, _wait, free_port, start_servers
from tests.test_messenger_live import PAGE_TOKEN, SECRET, VERIFY_TOKEN, FakeGraph
from tests.test_messenger_live import post as post_messenger
from tests.test_scaled_mode import database_url  # noqa: F401 (a fixture: a fresh PostgreSQL database)

pytestmark = pytest.mark.slow

SMS_PATH = "/webhooks/twilio_sms/webhook"
WAIT_S = 300  # generous upper bounds for a busy machine; nothing asserts on how long a step took


class GatedTwilioApi:
    """api.twilio.com's Messages endpoint that answers only once ``release()`` is called.

    While the gate is shut, the webhook call that is sending the reply cannot
    return: that is the slow reply during which Twilio redelivers.
    """

    def __init__(self) -> None:
        self.posted: List[Dict[str, str]] = []
        self.arrived = threading.Event()
        self.gate = threading.Event()
        self._lock = threading.Lock()
        api = self

        class Handler(JsonHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                fields = dict(parse_qsl(self.rfile.read(length).decode("utf-8"), keep_blank_values=True))
                with api._lock:
                    api.posted.append(fields)
                api.arrived.set()
                api.gate.wait(WAIT_S)
                created = tw.api_json("message_created")
                created.update(to=fields.get("To"), body=fields.get("Body"), sid=tw.new_sid())
                self._reply(201, created)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def to(self, address: str) -> List[Dict[str, str]]:
        with self._lock:
            return [p for p in self.posted if p.get("To") == address]

    def close(self) -> None:
        self.gate.set()
        self.server.shutdown()
        self.server.server_close()


class ActionServer:
    """The running action server: killed as a crash would, started again with its own command line."""

    def __init__(self, servers: Servers):
        self.port = int(servers.actions_url.rsplit(":", 1)[1])
        self.health = f"{servers.actions_url}/health"
        self.log = servers.logs / "actions-restarted.log"
        self.restarted: Optional[subprocess.Popen] = None

    def process(self) -> psutil.Process:
        """The `rasa run actions` process listening on our port (a descendant of this test process)."""
        for proc in psutil.Process().children(recursive=True):
            args = proc.cmdline()
            if "actions" in args and "--port" in args and args[args.index("--port") + 1] == str(self.port):
                return proc
        raise AssertionError(f"no action server process on port {self.port}")

    def kill(self) -> Dict[str, Any]:
        """SIGKILL (no clean shutdown); returns what is needed to start it again the same way."""
        proc = self.process()
        how = {"args": proc.cmdline(), "env": proc.environ(), "cwd": proc.cwd()}
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(WAIT_S)
        return how

    def start(self, how: Dict[str, Any]) -> None:
        with self.log.open("w") as log:
            self.restarted = subprocess.Popen(
                how["args"],
                env=how["env"],
                cwd=how["cwd"],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _wait(self.health, self.restarted, self.log)

    def stop(self) -> None:
        if self.restarted is not None and self.restarted.poll() is None:
            os.killpg(self.restarted.pid, signal.SIGTERM)
            try:
                self.restarted.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.restarted.pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def api() -> Iterator[GatedTwilioApi]:
    fake = GatedTwilioApi()
    yield fake
    fake.close()


@pytest.fixture(scope="module")
def graph() -> Iterator[FakeGraph]:
    fake = FakeGraph()
    yield fake
    fake.close()


@pytest.fixture(scope="module")
def live(
    tmp_path_factory: pytest.TempPathFactory, api: GatedTwilioApi, graph: FakeGraph
) -> Iterator[Servers]:
    env = dict(
        tw.environment(api.url),
        FB_VERIFY_TOKEN=VERIFY_TOKEN,
        FB_APP_SECRET=SECRET,
        FB_PAGE_ACCESS_TOKEN=PAGE_TOKEN,
        FB_GRAPH_URL=graph.url,
    )
    with start_servers(tmp_path_factory.mktemp("faults"), extra_env=env) as running:
        yield running


@pytest.fixture(scope="module")
def actions(live: Servers) -> Iterator[ActionServer]:
    """Module-wide: a restarted action server serves the tests after the one that killed it."""
    server = ActionServer(live)
    yield server
    server.stop()


def custom(reply: List[Dict[str, Any]]) -> Dict[str, Any]:
    found = [m["custom"] for m in reply if "custom" in m]
    assert len(found) == 1, reply
    return dict(found[0])


def user_texts(live: Servers, sender: str) -> List[str]:
    return [e["text"] for e in live.tracker(sender)["events"] if e["event"] == "user"]


def rest_turn(live: Servers, sender: str, text: str) -> List[Dict[str, Any]]:
    reply = requests.post(
        f"{live.rasa_url}/webhooks/rest/webhook", json={"sender": sender, "message": text}, timeout=WAIT_S
    )
    assert reply.status_code == 200, reply.text  # not a 500, not a 503
    return list(reply.json())


def sms_turn(live: Servers, api: GatedTwilioApi, number: str, text: str) -> str:
    """The one SMS the traveler gets back (the webhook returns once it was handed to Twilio's API)."""
    before = len(api.to(number))
    answered = post_sms(live, tw.form("sms_text", From=number, Body=text, MessageSid=tw.new_sid()))
    assert answered.status_code == 200, answered.text
    sent = api.to(number)[before:]
    assert len(sent) == 1, sent
    return sent[0]["Body"]


def messenger_turn(live: Servers, graph: FakeGraph, psid: str, text: str) -> str:
    """The one Send API text the traveler gets back."""
    before = len(graph.to(psid))
    posted = post_messenger(live, fb.body(fb.event("text_message", psid=psid, mid=fb.new_mid(), text=text)))
    assert posted.status_code == 200, posted.text
    sent = graph.wait_for(psid, before + 1)[before:]
    assert len(sent) == 1, sent
    return str(sent[0]["message"]["text"])


def test_action_server_killed_mid_conversation_gets_an_apology_then_the_conversation_goes_on(
    live: Servers, actions: ActionServer, api: GatedTwilioApi, graph: FakeGraph
) -> None:
    api.gate.set()  # this test's SMS replies go straight through
    sender, number, psid = f"fault-{uuid.uuid4().hex[:10]}", tw.new_number(), fb.new_psid()
    first = live.say(sender, "can i bring my power bank in checked luggage")
    assert custom(first)["decision"] in ("answer", "clarify")
    assert sms_turn(live, api, number, "can i bring my power bank") != FAILED_TEXT
    assert messenger_turn(live, graph, psid, "can i bring my power bank") != UNAVAILABLE_TEXT

    how = actions.kill()
    with pytest.raises(requests.ConnectionError):
        requests.get(actions.health, timeout=10)
    messages = rest_turn(live, sender, "is a pocket knife ok in carry on")
    assert [m["text"] for m in messages if "text" in m] == [UNAVAILABLE_TEXT]
    assert custom(messages) == {"decision": "error", "reason": "assistant_unavailable"}
    assert sms_turn(live, api, number, "is a pocket knife ok in carry on") == FAILED_TEXT
    assert messenger_turn(live, graph, psid, "is a pocket knife ok in carry on") == UNAVAILABLE_TEXT

    actions.start(how)
    after = live.say(sender, "do i need a real id to fly")
    assert custom(after)["decision"] in ("answer", "clarify")
    assert not live.tracker(sender)["paused"]
    assert user_texts(live, sender) == [
        "can i bring my power bank in checked luggage",
        "is a pocket knife ok in carry on",
        "do i need a real id to fly",
    ]
    assert sms_turn(live, api, number, "do i need a real id to fly") != FAILED_TEXT
    assert messenger_turn(live, graph, psid, "do i need a real id to fly") != UNAVAILABLE_TEXT
    for conversation in (number, psid):
        assert not live.tracker(conversation)["paused"]


def post_sms(live: Servers, pairs: tw.Form) -> requests.Response:
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": tw.sign(tw.PUBLIC_BASE_URL + SMS_PATH, pairs),
    }
    return requests.post(live.rasa_url + SMS_PATH, data=tw.encode(pairs), headers=headers, timeout=WAIT_S)


def test_twilio_redelivering_a_message_while_its_reply_is_slow_gets_exactly_one_reply(
    live: Servers, api: GatedTwilioApi
) -> None:
    number = tw.new_number()
    pairs = tw.form("sms_text", From=number, Body="can i bring my power bank", MessageSid=tw.new_sid())
    api.gate.clear()
    api.arrived.clear()
    with ThreadPoolExecutor(max_workers=1) as pool:
        try:
            first = pool.submit(post_sms, live, pairs)
            assert api.arrived.wait(WAIT_S), "the first delivery's reply never reached the Twilio API"
            # The first call is still running (its reply is held at the API): Twilio would now redeliver.
            redeliveries = [post_sms(live, pairs) for _ in range(2)]
            assert not first.done()
            assert [r.status_code for r in redeliveries] == [200, 200]
            assert all("<Response" in r.text for r in redeliveries)
        finally:
            api.gate.set()
        assert first.result(WAIT_S).status_code == 200
    sent = api.to(number)
    assert len(sent) == 1, sent
    assert sent[0]["Body"] and sent[0]["From"] == tw.SMS_FROM


# -- scaled mode: Redis (the lock store) goes away and comes back --------------------------------


class OwnRedis:
    """A real redis-server of this test's own on a free port (the machine's shared one stays up)."""

    def __init__(self, workdir: Path):
        self.port = free_port()
        self.workdir = workdir
        self.proc: Optional[subprocess.Popen] = None

    def start(self) -> None:
        command = ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
                   "--appendonly", "no", "--dir", str(self.workdir)]  # fmt: skip
        self.proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=2)
        try:
            for _ in range(WAIT_S * 10):
                with contextlib.suppress(redis.ConnectionError):
                    if client.ping():
                        return
                assert self.proc.poll() is None, "redis-server exited"
                threading.Event().wait(0.1)
            raise AssertionError("redis-server did not come up")
        finally:
            client.close()

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(WAIT_S)


@pytest.fixture(scope="module")
def own_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OwnRedis]:
    if shutil.which("redis-server") is None:
        if os.environ.get("CI"):
            pytest.fail("CI must run the Redis fault test: redis-server is not installed")
        pytest.skip("redis-server is not installed")
    server = OwnRedis(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.kill()


@pytest.fixture(scope="module")
def scaled(
    tmp_path_factory: pytest.TempPathFactory,
    database_url: str,  # noqa: F811 (the fixture imported above)
    own_redis: OwnRedis,
) -> Iterator[Servers]:
    """One instance of the scaled mode: PostgreSQL, and the Redis lock in our own redis-server."""
    env = {"TRAVELBOT_REDIS_URL": f"redis://127.0.0.1:{own_redis.port}/0"}
    with start_servers(tmp_path_factory.mktemp("scaled"), extra_env=env, database_url=database_url) as one:
        yield one


def test_redis_unavailable_in_scaled_mode_gives_a_clear_error_and_recovers(
    scaled: Servers, own_redis: OwnRedis
) -> None:
    sender = f"redis-{uuid.uuid4().hex[:10]}"
    assert custom(scaled.say(sender, "can i bring my power bank in checked luggage"))["decision"] == "answer"

    own_redis.kill()
    down = requests.post(
        f"{scaled.rasa_url}/webhooks/rest/webhook",
        json={"sender": sender, "message": "is a pocket knife ok in carry on"},
        timeout=WAIT_S,
    )
    assert down.status_code == 503, down.text  # a clear, retryable error; not a 500
    assert "error" in down.json()
    assert "redis.exceptions.ConnectionError" in (scaled.logs / "rasa.log").read_text()  # names the cause

    own_redis.start()
    after = scaled.say(sender, "do i need a real id to fly")
    assert custom(after)["decision"] in ("answer", "clarify")
    assert user_texts(scaled, sender)[-1] == "do i need a real id to fly"
