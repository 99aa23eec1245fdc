"""Messenger test support: recorded webhook bodies and Graph API replies (tests/fixtures/messenger/),
signing, and reading what was sent to an intercepted Graph API."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import re
import uuid
from pathlib import Path
from typing import Any, Dict, List, Optional

from aioresponses import aioresponses

from channels.messenger_api import GraphClient, MessengerConfig

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "messenger"
PAGE_ID = "104872335598736"


def load(name: str) -> Dict[str, Any]:
    return dict(json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8")))


def event(name: str, psid: Optional[str] = None, mid: Optional[str] = None, **message: Any) -> Dict[str, Any]:
    """The one messaging event of a recorded body, with a fresh sender and mid unless given.

    For an echo the traveler is the recipient (the page is the sender), as Meta sends it.
    """
    item = copy.deepcopy(load(name)["entry"][0]["messaging"][0])
    psid = psid or new_psid()
    if "message" in item and item["message"].get("is_echo"):
        item["recipient"]["id"] = psid
    else:
        item["sender"]["id"] = psid
    inner = item.get("message") or item.get("postback")
    if inner is not None and "mid" in inner:
        inner["mid"] = mid or new_mid()
    if message:
        item["message"].update(message)
    return item


def body(*events: Any) -> bytes:
    """A webhook body as Meta posts it: one page entry holding the given events."""
    payload = {"object": "page", "entry": [{"id": PAGE_ID, "time": 1716220563921, "messaging": list(events)}]}
    return json.dumps(payload).encode("utf-8")


def sign(raw: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()


def new_psid() -> str:
    return str(7_000_000_000_000_000 + uuid.uuid4().int % 10**15)


def new_mid() -> str:
    return f"m_{uuid.uuid4().hex}{uuid.uuid4().hex}"


def events_of(raw: bytes) -> List[Dict[str, Any]]:
    return list(json.loads(raw)["entry"][0]["messaging"])


SECRET = "app-secret-for-tests"
GRAPH = "https://graph.test.invalid/v19.0"
SEND_URL = re.compile(r"^https://graph\.test\.invalid/v19\.0/me/messages\?access_token=page-token$")
ENV = {
    "FB_VERIFY_TOKEN": "verify-me",
    "FB_APP_SECRET": SECRET,
    "FB_PAGE_ACCESS_TOKEN": "page-token",
    "FB_GRAPH_URL": GRAPH,
}


def config() -> MessengerConfig:
    found = MessengerConfig.from_env(ENV)
    assert found is not None
    return found


def client(attempts: int = 4) -> GraphClient:
    return GraphClient(config(), attempts=attempts, backoff_s=0)


def sent(mock: aioresponses) -> List[Dict[str, Any]]:
    """Every JSON body POSTed to the Graph API, in order."""
    bodies: List[Dict[str, Any]] = []
    for (method, url), calls in mock.requests.items():
        assert method == "POST" and SEND_URL.match(str(url)), url
        bodies.extend(call.kwargs["json"] for call in calls)
    return bodies
