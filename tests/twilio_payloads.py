"""Recorded Twilio payloads (tests/fixtures/twilio/) and a local stand-in for api.twilio.com.

The webhook bodies are form-encoded exactly as Twilio posts them (field set
and order of Twilio's Messaging webhook, documented sample values); the JSON
files are Twilio REST API answers: a created message (201) and errors. Tests
change only the fields they are about (Body, From, MessageSid) and sign the
result with Twilio's own RequestValidator.compute_signature. ``FakeApi``
intercepts the API at the HTTP boundary inside the test process, for either
client (the staff console's synchronous one, the webhooks' aiohttp one).
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import uuid
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple
from urllib.parse import parse_qs, parse_qsl, urlencode

import aiohttp
import requests
import responses
from aioresponses import aioresponses
from responses.registries import OrderedRegistry
from twilio.request_validator import RequestValidator

from channels.twilio_client import Sent, TwilioSender
from tests.provider_stub import JsonHandler

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "twilio"
ACCOUNT_SID = "AC0123456789abcdef0123456789abcdef"
AUTH_TOKEN = "0123456789abcdef-test-only-token"
SMS_FROM = "+15017122661"
WHATSAPP_FROM = "whatsapp:+14155238886"
PUBLIC_BASE_URL = "https://travelbot.example.org/assistant"
MESSAGES_PATH = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
API_URL = f"https://api.twilio.com{MESSAGES_PATH}"

Form = List[Tuple[str, str]]


def form(name: str, **changes: str) -> Form:
    """A recorded webhook body as (field, value) pairs in Twilio's order, with some fields changed."""
    pairs = parse_qsl((FIXTURES / f"{name}.form").read_text(encoding="utf-8"), keep_blank_values=True)
    unknown = set(changes) - {key for key, _ in pairs}
    assert not unknown, f"{name}.form has no field {unknown}"
    return [(key, changes.get(key, value)) for key, value in pairs]


def encode(pairs: Form) -> bytes:
    return urlencode(pairs).encode("utf-8")


def sign(url: str, pairs: Form, token: str = AUTH_TOKEN) -> str:
    return str(RequestValidator(token).compute_signature(url, dict(pairs)))


def api_json(name: str) -> Dict[str, Any]:
    return dict(json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8")))


def new_sid(prefix: str = "SM") -> str:
    return prefix + uuid.uuid4().hex


def new_number() -> str:
    return "+1555" + str(uuid.uuid4().int)[:7]


@dataclass
class Posted:
    """One request our code made to the stand-in API."""

    path: str
    form: Dict[str, str]
    authorization: str


class FakeTwilioApi:
    """api.twilio.com's Messages endpoint on a local port, answering with the recorded JSON.

    The Rasa server under test runs in a subprocess, so ``responses`` cannot
    intercept its calls; TWILIO_API_BASE_URL points it here instead.
    """

    def __init__(self) -> None:
        self.posted: List[Posted] = []
        self._by_to: Dict[str, List[Posted]] = {}  # ``to`` is asked per message sent by the load benchmark
        self._lock = threading.Lock()
        api = self

        class Handler(JsonHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                fields = dict(parse_qsl(self.rfile.read(length).decode("utf-8"), keep_blank_values=True))
                posted = Posted(self.path, fields, self.headers.get("Authorization", ""))
                with api._lock:
                    api.posted.append(posted)
                    api._by_to.setdefault(fields.get("To", ""), []).append(posted)
                if self.path != MESSAGES_PATH:
                    self._reply(404, {"code": 20404, "message": "not found", "status": 404})
                    return
                created = api_json("message_created")
                created.update(to=fields.get("To"), body=fields.get("Body"), sid=new_sid())
                created["from"] = fields.get("From")
                self._reply(201, created)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeTwilioApi:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()

    def to(self, address: str) -> List[Posted]:
        """Messages our code asked Twilio to send to ``address``."""
        with self._lock:
            return list(self._by_to.get(address, ()))

    def __iter__(self) -> Iterator[Posted]:
        with self._lock:
            return iter(list(self.posted))


def basic_auth(user: str = ACCOUNT_SID, password: str = AUTH_TOKEN) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def environment(api_url: str) -> Dict[str, str]:
    """The TWILIO_* variables for both channels, with the API pointed at ``api_url``."""
    return {
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_SMS_FROM": SMS_FROM,
        "TWILIO_WHATSAPP_FROM": WHATSAPP_FROM,
        "TWILIO_PUBLIC_BASE_URL": PUBLIC_BASE_URL,
        "TWILIO_API_BASE_URL": api_url,
    }


class FakeApi:
    """Twilio's Messages API at the HTTP boundary, for either way of sending: ``send`` (requests,
    faked by ``responses``) or ``send_async`` (aiohttp, faked by ``aioresponses``). Answers are
    recorded Twilio payloads, given in order; ``posted`` is each request's form, as Twilio reads it."""

    def __init__(self, way: str, url: str = API_URL):
        self.way, self.url = way, url
        self.requests_mock = responses.RequestsMock(
            registry=OrderedRegistry, assert_all_requests_are_fired=False
        )
        self.aiohttp_mock = aioresponses()

    def __enter__(self) -> FakeApi:
        (self.requests_mock if self.way == "sync" else self.aiohttp_mock).__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        (self.requests_mock if self.way == "sync" else self.aiohttp_mock).__exit__(*exc)

    def answer(self, name: str, repeat: bool = False) -> None:
        payload = api_json(name)
        # an error payload carries its HTTP status; a created message's "status" is its state ("queued")
        status = payload["status"] if isinstance(payload.get("status"), int) else 201
        if self.way == "sync":
            self.requests_mock.add(responses.POST, self.url, json=payload, status=status)
        else:
            self.aiohttp_mock.post(self.url, payload=payload, status=status, repeat=repeat)

    def drop_connection(self) -> None:
        if self.way == "sync":
            self.requests_mock.add(
                responses.POST, self.url, body=requests.ConnectionError("connection reset")
            )
        else:
            self.aiohttp_mock.post(self.url, exception=aiohttp.ClientConnectionError("connection reset"))

    def posted(self) -> List[Dict[str, List[str]]]:
        if self.way == "sync":
            sent = [c.request.body for c in self.requests_mock.calls]
            forms = [b if isinstance(b, str) else bytes(b or b"").decode() for b in sent]
            return [parse_qs(form, keep_blank_values=True) for form in forms]
        calls = [
            c for (_, url), made in self.aiohttp_mock.requests.items() if str(url) == self.url for c in made
        ]
        return [{key: [str(value)] for key, value in c.kwargs["data"].items()} for c in calls]

    def authorizations(self) -> List[str]:
        if self.way == "sync":
            return [c.request.headers["Authorization"] for c in self.requests_mock.calls]
        return [c.kwargs["auth"].encode() for made in self.aiohttp_mock.requests.values() for c in made]

    def send(self, sender: TwilioSender, address: str, bodies: List[str]) -> Sent:
        if self.way == "sync":
            return sender.send(address, bodies)

        async def send_and_close() -> Sent:
            try:
                return await sender.send_async(address, bodies)
            finally:
                await sender.close_async()

        return asyncio.run(send_and_close())
