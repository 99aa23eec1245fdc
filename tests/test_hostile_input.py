"""Hostile input: every parser of outside input, driven by hypothesis, never answers 500 or raises.

The traveler channels are the real channel objects serving real HTTP: their
blueprints run in a Sanic server in this process (tests/channel_server.py, as
Rasa mounts them, under /webhooks/<channel>/), on a throw-away SQLite database. The Rasa side is a
recorder that answers every message "ok"; Twilio's and Meta's APIs are local
stand-ins (TWILIO_API_BASE_URL, FB_GRAPH_URL). Twilio and Messenger posts are
signed correctly, so arbitrary bodies get past the signature to the parsers.
The staff console is the real Flask app, signed in, with its CSRF token.
"""

from __future__ import annotations

import json
import logging
import re
import socket
from typing import Any, Dict, Iterator, List, Tuple

import pytest
import requests
from flask.testing import FlaskClient
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from limits import parse
from limits.storage import MemoryStorage
from rasa.core.channels.channel import InputChannel
from werkzeug.datastructures import MultiDict

from channels import twilio_sms as sms
from channels.messenger import SIGNATURE_HEADER, MessengerInput
from channels.messenger_api import MessengerConfig
from channels.rate_limit import SenderLimit
from channels.rest import MAX_BODY_BYTES, RestChannel
from channels.twilio_client import load_config
from channels.twilio_whatsapp import TwilioWhatsAppInput
from channels.webchat import WebChatInput
from console import ConsoleSecrets, create_app
from tests import messenger_payloads as fb
from tests import twilio_payloads as tw
from tests.channel_server import ChannelServer, ErrorLog, FakeGraph, Rasa
from travelbot import runtime
from travelbot.casework import CaseStore
from travelbot.handoffs import Handoff, HandoffStore
from travelbot.settings import Settings
from travelbot.users import UserStore

PROPERTY = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
    database=None,
)
SERVER_ERROR = 500
HTTP_TIMEOUT_S = 60


# -- the servers --------------------------------------------------------------------------------------


def generous_limit() -> SenderLimit:
    """A limit no example reaches, so that every example runs the whole path (test_rate_limit.py tests it)."""
    return SenderLimit(parse("100000/minute"), MemoryStorage())


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dict[str, Any]]:
    workdir = tmp_path_factory.mktemp("hostile")
    graph, twilio, errors = FakeGraph(), tw.FakeTwilioApi().__enter__(), ErrorLog()
    channel_logger = logging.getLogger("channels")
    channel_logger.addHandler(errors)
    env = dict(tw.environment(twilio.url), **dict(fb.ENV, FB_GRAPH_URL=graph.url))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(runtime, "_store", HandoffStore(f"sqlite:///{workdir / 'travelbot.db'}"))
        patch.setattr(runtime, "_stores", {})
        sms_config = load_config("twilio_sms", "TWILIO_SMS_FROM", "TWILIO_WHATSAPP_FROM", r"\+[0-9]+", env)
        whatsapp_config = load_config(
            "twilio_whatsapp", "TWILIO_WHATSAPP_FROM", "TWILIO_SMS_FROM", r"whatsapp:\+[0-9]+", env
        )
        messenger_config = MessengerConfig.from_env(env)
        rasa = Rasa()
        channels: List[InputChannel] = [
            RestChannel(generous_limit(), generous_limit()),
            WebChatInput(generous_limit(), generous_limit()),
            sms.TwilioSmsInput(sms_config, generous_limit()),
            TwilioWhatsAppInput(whatsapp_config, generous_limit()),
            MessengerInput(messenger_config, generous_limit()),
        ]
        try:
            with ChannelServer(channels, rasa) as server:
                yield {"server": server, "rasa": rasa, "messenger": channels[-1], "errors": errors}
        finally:
            channel_logger.removeHandler(errors)
            twilio.__exit__()
            graph.close()


def post(world: Dict[str, Any], path: str, data: bytes, headers: Dict[str, str]) -> requests.Response:
    return requests.post(f"{world['server'].url}{path}", data=data, headers=headers, timeout=HTTP_TIMEOUT_S)


def assert_handled(reply: requests.Response, world: Dict[str, Any], allowed: Tuple[int, ...]) -> None:
    assert reply.status_code != SERVER_ERROR, reply.text[:500]
    assert reply.status_code in allowed, (reply.status_code, reply.text[:500])
    assert world["errors"].take() == []


# -- strategies ---------------------------------------------------------------------------------------

scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=60)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
)
texts = st.text(max_size=300)
# Deep nesting and huge integers: valid JSON that Python's parser refuses (RecursionError, ValueError).
DEEP_JSON = b"[" * 50_000 + b"]" * 50_000
HUGE_INTEGER = b'{"sender": "a", "message": ' + b"9" * 5_000 + b"}"


def rest_bodies() -> st.SearchStrategy[bytes]:
    shaped = st.fixed_dictionaries(
        {"sender": json_values | texts, "message": json_values | texts},
        optional={"metadata": json_values},
    )
    as_json = (shaped | json_values).map(lambda v: json.dumps(v).encode("utf-8"))
    return as_json | st.binary(max_size=400)


# -- REST and web chat --------------------------------------------------------------------------------


@PROPERTY
@given(body=rest_bodies(), channel=st.sampled_from(["rest", "webchat"]))
@example(body=DEEP_JSON, channel="rest")
@example(body=HUGE_INTEGER, channel="webchat")
@example(body=b'{"sender": "\\ud800", "message": "\\udfff"}', channel="rest")
def test_rest_and_webchat_bodies_never_500(world: Dict[str, Any], body: bytes, channel: str) -> None:
    reply = post(world, f"/webhooks/{channel}/webhook", body, {"Content-Type": "application/json"})
    assert_handled(reply, world, (200, 400, 413))
    if reply.status_code == 200:
        assert isinstance(reply.json(), list)
    else:
        assert reply.json()["error"]


@PROPERTY
@given(
    body=rest_bodies()
    | st.fixed_dictionaries(
        {"sender": texts, "entry_id": json_values | texts, "helpful": json_values},
        optional={"question": json_values},
    ).map(lambda v: json.dumps(v).encode("utf-8"))
)
def test_webchat_feedback_bodies_never_500(world: Dict[str, Any], body: bytes) -> None:
    reply = post(world, "/webhooks/webchat/feedback", body, {"Content-Type": "application/json"})
    assert_handled(reply, world, (201, 400, 413))


@PROPERTY
@given(sender=texts, after=st.text(max_size=30) | st.integers().map(str))
@example(sender="web-1", after="²")
@example(sender="web-1", after="9" * 40)
def test_webchat_updates_query_never_500(world: Dict[str, Any], sender: str, after: str) -> None:
    reply = requests.get(
        f"{world['server'].url}/webhooks/webchat/updates",
        params={"sender": sender, "after": after},
        timeout=HTTP_TIMEOUT_S,
    )
    assert_handled(reply, world, (200, 400))


# -- Twilio SMS and WhatsApp --------------------------------------------------------------------------

TWILIO_FIELDS = ["MessageSid", "From", "To", "Body", "NumMedia", "SmsStatus", "AccountSid", "MediaUrl0"]
field_names = st.sampled_from(TWILIO_FIELDS) | st.text(max_size=20)
field_values = texts | st.sampled_from(["STOP", "START", "HELP", "", "0", "3", "-1", "1e3", "٣", "9" * 5000])


@PROPERTY
@given(
    fields=st.lists(st.tuples(field_names, field_values), max_size=12),
    channel=st.sampled_from(["twilio_sms", "twilio_whatsapp"]),
    complete=st.booleans(),
)
def test_signed_twilio_forms_never_500(
    world: Dict[str, Any], fields: List[Tuple[str, str]], channel: str, complete: bool
) -> None:
    if complete:  # the two fields the channel requires, so the rest reaches the keyword and Rasa paths
        fields = [("MessageSid", tw.new_sid()), ("From", tw.new_number()), *fields]
    path = f"/webhooks/{channel}/webhook"
    signature = sms.RequestValidator(tw.AUTH_TOKEN).compute_signature(
        tw.PUBLIC_BASE_URL + path, MultiDict(fields)
    )
    headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature}
    reply = post(world, path, tw.encode(fields), headers)
    assert_handled(reply, world, (200, 400))


@PROPERTY
@given(raw=st.binary(max_size=400), signature=st.from_regex(r"[!-~]{0,40}", fullmatch=True))
def test_unsigned_or_garbled_twilio_bodies_never_500(
    world: Dict[str, Any], raw: bytes, signature: str
) -> None:
    headers = {"X-Twilio-Signature": signature}
    reply = post(world, "/webhooks/twilio_sms/webhook", raw, headers)
    assert_handled(reply, world, (400, 403))


# -- Messenger ----------------------------------------------------------------------------------------

identifiers = st.text(max_size=20) | st.integers() | json_values
messages = st.fixed_dictionaries(
    {},
    optional={
        "mid": identifiers,
        "text": texts | json_values,
        "is_echo": json_values,
        "quick_reply": st.fixed_dictionaries({}, optional={"payload": texts | json_values}) | json_values,
        "attachments": json_values,
    },
)
messaging_items = st.fixed_dictionaries(
    {},
    optional={
        "sender": st.fixed_dictionaries({}, optional={"id": identifiers}) | json_values,
        "recipient": json_values,
        "timestamp": json_values,
        "message": messages | json_values,
        "postback": st.fixed_dictionaries({}, optional={"payload": texts, "mid": identifiers}) | json_values,
    },
)
entries = st.fixed_dictionaries(
    {}, optional={"id": json_values, "messaging": st.lists(messaging_items, max_size=3)}
)
messenger_bodies = st.fixed_dictionaries(
    {},
    optional={"object": st.just("page") | json_values, "entry": st.lists(entries | json_values, max_size=3)},
)


@PROPERTY
@given(payload=messenger_bodies | json_values)
def test_signed_messenger_bodies_never_500(world: Dict[str, Any], payload: Any) -> None:
    raw = json.dumps(payload).encode("utf-8")
    headers = {"Content-Type": "application/json", SIGNATURE_HEADER: fb.sign(raw, fb.SECRET)}
    reply = post(world, "/webhooks/messenger/webhook", raw, headers)
    world["server"].run(world["messenger"].webhook.drain())  # the events' handling, done in the background
    assert_handled(reply, world, (200, 400))


@PROPERTY
@given(
    args=st.dictionaries(st.sampled_from(["hub.mode", "hub.verify_token", "hub.challenge"]) | texts, texts)
)
def test_messenger_handshake_query_never_500(world: Dict[str, Any], args: Dict[str, str]) -> None:
    reply = requests.get(
        f"{world['server'].url}/webhooks/messenger/webhook", params=args, timeout=HTTP_TIMEOUT_S
    )
    assert_handled(reply, world, (200, 403))


# -- body size limits ---------------------------------------------------------------------------------

WEBHOOKS = [
    ("/webhooks/rest/webhook", MAX_BODY_BYTES),
    ("/webhooks/webchat/webhook", MAX_BODY_BYTES),
    ("/webhooks/webchat/feedback", MAX_BODY_BYTES),
    ("/webhooks/twilio_sms/webhook", sms.MAX_FORM_BYTES),
    ("/webhooks/twilio_whatsapp/webhook", sms.MAX_FORM_BYTES),
    ("/webhooks/messenger/webhook", 1024 * 1024),
]


@pytest.mark.parametrize(("path", "cap"), WEBHOOKS)
def test_a_body_over_the_cap_is_413_with_a_reason(world: Dict[str, Any], path: str, cap: int) -> None:
    reply = post(world, path, b"x" * (cap + 1), {"Content-Type": "application/json"})
    assert reply.status_code == 413 and f"larger than {cap} bytes" in reply.text
    just_under = post(world, path, b"x" * cap, {"Content-Type": "application/json"})
    assert just_under.status_code in (400, 403)  # read whole, then refused for what it says


@pytest.mark.parametrize("path", ["/webhooks/webchat/webhook", "/webhooks/twilio_sms/webhook"])
def test_a_chunked_body_is_cut_off_at_the_cap(world: Dict[str, Any], path: str) -> None:
    """No Content-Length to refuse up front: the stream is counted and refused once past the cap."""

    def chunks() -> Iterator[bytes]:
        for _ in range(64):  # 4 MB in all, far past any webhook's cap
            yield b"x" * 65_536

    reply = requests.post(f"{world['server'].url}{path}", data=chunks(), timeout=HTTP_TIMEOUT_S)
    assert reply.status_code == 413 and "larger than" in reply.text


def test_the_web_chat_refuses_a_megabyte_before_reading_it(world: Dict[str, Any]) -> None:
    with socket.create_connection(("127.0.0.1", world["server"].port), timeout=HTTP_TIMEOUT_S) as conn:
        conn.sendall(
            b"POST /webhooks/webchat/webhook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1048576\r\n\r\n"
        )  # the headers only: the answer must not wait for the megabyte
        answer = conn.recv(4096).decode("latin-1")
    assert answer.startswith("HTTP/1.1 413") and "larger than" in answer


# -- staff console ------------------------------------------------------------------------------------

PASSWORD = "correct horse battery"
TOKEN = re.compile(r'name="(?:[a-z]+-)?csrf_token" type="hidden" value="([^"]+)"')


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tuple[FlaskClient, int]]:
    engine = HandoffStore(f"sqlite:///{tmp_path_factory.mktemp('console') / 'console.db'}").engine
    users = UserStore(engine)
    users.add("root", PASSWORD, "admin")
    handoff_id = HandoffStore(str(engine.url)).record(Handoff("web-hostile", "webchat", "requested", "agent"))
    secrets = ConsoleSecrets.parse_obj({"secret_key": "k" * 40, "rasa_token": "test-token"})
    # Port 9 (discard): nothing answers, so the calls to Rasa's API fail fast and are handled.
    app = create_app(Settings(), secrets, users, CaseStore(engine), rasa_url="http://127.0.0.1:9")
    with app.test_client() as client:
        page = client.get("/login").get_data(as_text=True)
        found = TOKEN.search(page)
        assert found
        signed_in = client.post("/login", data={"name": "root", "password": PASSWORD, "csrf_token": found[1]})
        assert signed_in.status_code == 302
        yield client, handoff_id


def csrf(client: FlaskClient, path: str) -> str:
    found = TOKEN.search(client.get(path).get_data(as_text=True))
    assert found, path
    return found[1]


form_fields = st.dictionaries(
    st.sampled_from(["reply-text", "note-text", "text", "name", "password", "next"]) | st.text(max_size=12),
    st.text(max_size=2000) | st.sampled_from(["", " ", "\x00", "<script>alert(1)</script>"]),
    max_size=5,
)


CONSOLE_FORMS = ["claim", "reply", "note", "resolve", "release", "login"]


@PROPERTY
@given(form=st.sampled_from(CONSOLE_FORMS), fields=form_fields)
def test_console_forms_never_500(console: Tuple[FlaskClient, int], form: str, fields: Dict[str, str]) -> None:
    """The conversation's action forms and the sign-in form, posted with a valid CSRF token."""
    client, handoff_id = console
    path = "/login" if form == "login" else f"/handoffs/{handoff_id}/{form}"
    data = dict(fields, csrf_token=csrf(client, f"/handoffs/{handoff_id}"))
    reply = client.post(path, data=data)
    assert reply.status_code < SERVER_ERROR, reply.get_data(as_text=True)[:500]


@PROPERTY
@given(
    path=st.sampled_from(["/", "/api/inbox", "/handoffs/{id}", "/api/handoffs/{id}"]),
    args=st.dictionaries(
        st.sampled_from(["view", "q", "insert", "next"]) | st.text(max_size=8), texts, max_size=3
    ),
)
def test_console_pages_with_any_query_never_500(
    console: Tuple[FlaskClient, int], path: str, args: Dict[str, str]
) -> None:
    client, handoff_id = console
    reply = client.get(path.format(id=handoff_id), query_string=args)
    assert reply.status_code < SERVER_ERROR, reply.get_data(as_text=True)[:500]
