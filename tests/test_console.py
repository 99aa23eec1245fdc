"""The staff console in-process: login, roles, CSRF, every route behind login, claims, escaping.

A real SQLite database and the real Flask app; the Rasa server is not running
here (the conversation view then shows the stored part and says why), the
end-to-end flows with every server are in test_handoff_flow.py.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import subprocess
import sys
import threading
from pathlib import Path
from typing import Iterator, List, Tuple

import pytest
import responses
import sqlalchemy as sa
import yaml
from aioresponses import aioresponses
from flask import Flask
from flask.testing import FlaskClient

from console import ConsoleSecrets, create_app
from console.notifier import Notifier
from tests import messenger_payloads
from travelbot.casework import CaseError, CaseStore
from travelbot.handoffs import Handoff, HandoffStore
from travelbot.settings import ROOT, ConfigError, Settings
from travelbot.users import UserError, UserStore

PASSWORD = "correct horse battery"
SECRETS = ConsoleSecrets.parse_obj({"secret_key": "k" * 40, "rasa_token": "test-token"})
HTML = '<img src=x onerror="alert(1)"><script>alert(2)</script>'


@pytest.fixture
def engine(tmp_path: Path) -> sa.engine.Engine:
    return HandoffStore(f"sqlite:///{tmp_path / 'console.db'}").engine


def make_app(engine: sa.engine.Engine, **console: object) -> Flask:
    config = Settings.parse_obj({"console": console})
    users = UserStore(engine)
    for name, role in (("alice", "agent"), ("bob", "agent"), ("eve", "editor"), ("root", "admin")):
        users.add(name, PASSWORD, role)
    # Port 9 (discard) on loopback: nothing answers, so the Rasa API calls fail fast.
    return create_app(config, SECRETS, users, CaseStore(engine), rasa_url="http://127.0.0.1:9")


@pytest.fixture
def app(engine: sa.engine.Engine) -> Flask:
    return make_app(engine)


@pytest.fixture
def handoff_id(engine: sa.engine.Engine) -> int:
    return HandoffStore(str(engine.url)).record(
        Handoff(
            "web-abc", "webchat", "requested", HTML, candidates=[{"entry_id": "power-banks", "score": 0.5}]
        )
    )


def token(client: FlaskClient, path: str = "/login") -> str:
    page = client.get(path).get_data(as_text=True)
    found = re.search(r'name="(?:[a-z]+-)?csrf_token" type="hidden" value="([^"]+)"', page) or re.search(
        r'name="csrf_token" value="([^"]+)"', page
    )
    assert found, page[:2000]
    return found.group(1)


def login(client: FlaskClient, name: str) -> None:
    reply = client.post("/login", data={"name": name, "password": PASSWORD, "csrf_token": token(client)})
    assert reply.status_code == 302, reply.get_data(as_text=True)[:500]


@pytest.fixture
def client(app: Flask) -> Iterator[FlaskClient]:
    with app.test_client() as c:
        yield c


def test_every_route_refuses_an_anonymous_visitor(app: Flask, client: FlaskClient, handoff_id: int) -> None:
    tried: List[Tuple[str, str, int]] = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in ("auth.login", "static"):
            continue  # the sign-in page itself, and the console's public CSS/JS
        built = rule.build({arg: handoff_id for arg in rule.arguments}, append_unknown=False)
        assert built is not None
        path = built[1]
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            reply = client.open(path, method=method)
            tried.append((method, path, reply.status_code))
            assert HTML not in reply.get_data(as_text=True)
    refused = [t for t in tried if t[2] in (302, 401)]
    redirected = [t for t in tried if t[2] == 302]
    assert all(client.get(p).headers["Location"].startswith("/login") for _, p, _ in redirected)
    assert len(tried) >= 10
    assert refused == tried, [t for t in tried if t not in refused]
    print(f"\nunauthenticated requests refused: {len(refused)} / tried: {len(tried)}")


def test_login_logout_and_wrong_password(client: FlaskClient) -> None:
    reply = client.post(
        "/login", data={"name": "alice", "password": "wrong password", "csrf_token": token(client)}
    )
    assert reply.status_code == 401 and "Wrong name or password" in reply.get_data(as_text=True)
    reply = client.post("/login", data={"name": "nobody", "password": PASSWORD, "csrf_token": token(client)})
    assert reply.status_code == 401
    login(client, "alice")
    assert client.get("/").status_code == 200
    assert client.post("/logout", data={"csrf_token": token(client, "/")}).status_code == 302
    assert client.get("/").status_code == 302


def test_posts_without_a_csrf_token_are_refused(
    client: FlaskClient, handoff_id: int, engine: sa.engine.Engine
) -> None:
    assert client.post("/login", data={"name": "alice", "password": PASSWORD}).status_code == 400
    login(client, "alice")
    for action in ("claim", "resolve", "note", "reply", "release"):
        reply = client.post(f"/handoffs/{handoff_id}/{action}", data={"text": "hi", "note-text": "hi"})
        assert reply.status_code == 400, action
    reply = client.post(f"/handoffs/{handoff_id}/claim", json={}, headers={"X-CSRFToken": "forged"})
    assert reply.status_code == 400
    assert CaseStore(engine).get(handoff_id).status == "waiting"  # type: ignore[union-attr]


def test_session_cookie_flags(engine: sa.engine.Engine) -> None:
    for public_url, secure in ((None, False), ("https://console.example.org/", True)):
        app = make_app(
            HandoffStore(str(engine.url).replace(".db", f"{int(secure)}.db")).engine, public_url=public_url
        )
        with app.test_client() as c:
            login(c, "alice")
            cookie = next(h for h in c.get("/").headers.getlist("Set-Cookie") + _last_cookies(c) if h)
            assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
            assert ("Secure" in cookie) is secure, cookie


def test_polls_never_rewrite_the_session_cookie(client: FlaskClient, handoff_id: int) -> None:
    """A poll answered after a form post must not put back the cookie from before it (console/sessions.py)."""
    login(client, "alice")
    assert client.get("/").headers.getlist("Set-Cookie")  # a page load slides the session's expiry
    for path in ("/api/inbox", f"/api/handoffs/{handoff_id}"):
        reply = client.get(path, headers={"Accept": "application/json"})
        assert reply.status_code == 200 and reply.headers.getlist("Set-Cookie") == [], path


def _last_cookies(client: FlaskClient) -> List[str]:
    reply = client.post("/login", data={"name": "alice", "password": PASSWORD, "csrf_token": token(client)})
    return reply.headers.getlist("Set-Cookie")


def test_editor_reads_but_cannot_act(client: FlaskClient, handoff_id: int) -> None:
    login(client, "eve")
    assert client.get(f"/handoffs/{handoff_id}").status_code == 200
    csrf = token(client, f"/handoffs/{handoff_id}")
    assert client.post(f"/handoffs/{handoff_id}/claim", data={"csrf_token": csrf}).status_code == 403
    assert 'id="claim"' not in client.get(f"/handoffs/{handoff_id}").get_data(as_text=True)


def test_second_claim_is_refused_clearly(app: Flask, handoff_id: int) -> None:
    alice, bob = app.test_client(), app.test_client()  # two browsers (not nested `with`: one context each)
    login(alice, "alice")
    login(bob, "bob")
    first = alice.post(
        f"/handoffs/{handoff_id}/claim", data={"csrf_token": token(alice, "/")}, follow_redirects=True
    )
    assert "You have claimed" in first.get_data(as_text=True)
    second = bob.post(
        f"/handoffs/{handoff_id}/claim", data={"csrf_token": token(bob, "/")}, follow_redirects=True
    )
    assert "already claimed by alice" in second.get_data(as_text=True)
    # Bob cannot reply to or resolve Alice's conversation either.
    csrf = token(bob, "/")
    assert (
        bob.post(f"/handoffs/{handoff_id}/reply", data={"reply-text": "x", "csrf_token": csrf}).status_code
        == 409
    )
    assert "Not resolved" in bob.post(
        f"/handoffs/{handoff_id}/resolve", data={"csrf_token": csrf}, follow_redirects=True
    ).get_data(as_text=True)


def test_claim_race_has_exactly_one_winner(engine: sa.engine.Engine, handoff_id: int) -> None:
    agents = [f"agent{i}" for i in range(8)]
    won: List[str] = []
    refused: List[str] = []
    barrier = threading.Barrier(len(agents))

    def race(agent: str) -> None:
        store = CaseStore(sa.create_engine(str(engine.url), future=True))  # one connection pool each
        barrier.wait()
        try:
            store.claim(handoff_id, agent)
            won.append(agent)
        except CaseError as exc:
            refused.append(str(exc))

    threads = [threading.Thread(target=race, args=(a,)) for a in agents]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(won) == 1 and len(refused) == len(agents) - 1
    assert all(f"already claimed by {won[0]}" in reason for reason in refused)
    assert CaseStore(engine).get(handoff_id).agent == won[0]  # type: ignore[union-attr]


def test_html_from_traveler_and_agent_is_escaped(client: FlaskClient, handoff_id: int) -> None:
    login(client, "alice")
    inbox = client.get("/").get_data(as_text=True)
    assert HTML not in inbox and "&lt;script&gt;alert(2)&lt;/script&gt;" in inbox
    csrf = token(client, "/")
    client.post(f"/handoffs/{handoff_id}/claim", data={"csrf_token": csrf})
    client.post(f"/handoffs/{handoff_id}/note", data={"note-text": HTML, "csrf_token": csrf})
    page = client.get(f"/handoffs/{handoff_id}").get_data(as_text=True)
    assert HTML not in page and page.count("&lt;script&gt;alert(2)&lt;/script&gt;") >= 1
    state = client.get(f"/api/handoffs/{handoff_id}").get_json()
    assert state["notes"][0]["text"] == HTML  # JSON carries the text; console.js shows it with textContent
    assert "Content-Security-Policy" in client.get("/").headers


def test_inbox_json_urgent_first_and_views(client: FlaskClient, engine: sa.engine.Engine) -> None:
    store = HandoffStore(str(engine.url))
    calm = store.record(Handoff("web-1", "webchat", "requested", "hello"))
    urgent = store.record(Handoff("+15550001", "twilio_sms", "sensitive", "help", urgent=True))
    login(client, "alice")
    data = client.get("/api/inbox?view=waiting").get_json()
    assert [c["id"] for c in data["cases"]] == [urgent, calm]
    assert data["cases"][0]["channel"] == "twilio_sms" and data["cases"][0]["waiting_s"] >= 0
    client.post(f"/handoffs/{calm}/claim", data={"csrf_token": token(client, "/")})
    assert [c["id"] for c in client.get("/api/inbox?view=mine").get_json()["cases"]] == [calm]
    assert client.get("/api/inbox?view=bogus").status_code == 400


def test_secrets_are_checked_at_start() -> None:
    with pytest.raises(ConfigError, match="CONSOLE_SECRET_KEY"):
        ConsoleSecrets.from_env({"RASA_TOKEN": "x"})
    with pytest.raises(ConfigError, match=r"\$CONSOLE_SECRET_KEY: must have at least 32"):
        ConsoleSecrets.from_env({"RASA_TOKEN": "x", "CONSOLE_SECRET_KEY": "short"})


def test_user_rules(engine: sa.engine.Engine) -> None:
    users = UserStore(engine)
    users.add("carol", PASSWORD, "agent")
    with pytest.raises(UserError, match="already exists"):
        users.add("carol", PASSWORD, "agent")
    with pytest.raises(UserError, match="role"):
        users.add("dave", PASSWORD, "boss")
    with pytest.raises(UserError, match="at least"):
        users.add("dave", "short", "agent")
    stored = engine.connect().execute(sa.text("select password_hash from users")).scalar_one()
    assert stored.startswith("$argon2") and PASSWORD not in stored


def test_user_add_command_reads_the_password_from_stdin(tmp_path: Path) -> None:
    config = yaml.safe_load((ROOT / "travelbot.yml").read_text())
    config["storage"] = {"backend": "sqlite", "sqlite_path": str(tmp_path / "users.db")}
    (tmp_path / "travelbot.yml").write_text(yaml.safe_dump(config))
    env = {
        "TRAVELBOT_CONFIG": str(tmp_path / "travelbot.yml"),
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(ROOT),
    }
    cmd = [
        sys.executable,
        "-m",
        "travelbot.cli",
        "user",
        "add",
        "frank",
        "--role",
        "agent",
        "--password-stdin",
    ]
    done = subprocess.run(
        cmd, input=PASSWORD + "\n", capture_output=True, text=True, env=env, cwd=ROOT, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "added frank (agent)" in done.stdout
    users = UserStore(sa.create_engine(f"sqlite:///{tmp_path / 'users.db'}"))
    assert users.authenticate("frank", PASSWORD) is not None
    assert users.authenticate("frank", PASSWORD + "x") is None
    again = subprocess.run(
        cmd, input=PASSWORD + "\n", capture_output=True, text=True, env=env, cwd=ROOT, check=False
    )
    assert again.returncode == 1 and "already exists" in again.stderr


def test_conversation_view_without_rasa_shows_the_stored_transcript(
    client: FlaskClient, engine: sa.engine.Engine
) -> None:
    stored = [
        {"role": "user", "text": HTML, "time": 1.0},
        {"role": "bot", "text": "Did you mean?", "time": 2.0},
    ]
    handoff = HandoffStore(str(engine.url)).record(
        Handoff("web-stored", "webchat", "clarify_failed", "none of these", transcript=stored)
    )
    login(client, "alice")
    page = client.get(f"/handoffs/{handoff}").get_data(as_text=True)
    assert "up to the handoff only" in page and "Did you mean?" in page
    assert HTML not in page and "&lt;script&gt;alert(2)&lt;/script&gt;" in page


@responses.activate
def test_new_handoffs_are_posted_once_to_the_notification_webhook(engine: sa.engine.Engine) -> None:
    url = "https://contact-center.example.com/hooks/travelbot"
    responses.add(responses.POST, url, json={"ok": True}, status=200)
    store = HandoffStore(str(engine.url))
    urgent = store.record(Handoff("+15550002", "twilio_sms", "sensitive", HTML, urgent=True))
    calm = store.record(Handoff("web-2", "webchat", "requested", "hi"))
    notifier = Notifier(engine, url, "https://console.example.org/", secret="s" * 32, backoff_s=0.0)
    assert notifier.run_once() == 2
    assert notifier.run_once() == 0  # each handoff once, also after a restart (the table remembers)
    sent = [call.request.body for call in responses.calls]
    assert all(isinstance(b, bytes) for b in sent)
    posted = [json.loads(b or b"") for b in sent]
    assert [p["handoff_id"] for p in posted] == [urgent, calm]
    assert posted[0] == {
        "event": "handoff.created",
        "handoff_id": urgent,
        "channel": "twilio_sms",
        "reason": "sensitive",
        "urgent": True,
        "created_at": posted[0]["created_at"],
        "console_url": f"https://console.example.org/handoffs/{urgent}",
    }
    assert HTML not in json.dumps(posted)  # the traveler's words stay inside
    body = sent[0]
    assert isinstance(body, bytes)
    expected = hmac.new(b"s" * 32, body, hashlib.sha256).hexdigest()
    assert responses.calls[0].request.headers["X-Travelbot-Signature"] == f"sha256={expected}"


@responses.activate
def test_notification_retries_a_5xx_then_records_the_failure(engine: sa.engine.Engine) -> None:
    url = "https://contact-center.example.com/hooks/travelbot"
    responses.add(responses.POST, url, json={"error": "down"}, status=503)
    HandoffStore(str(engine.url)).record(Handoff("web-3", "webchat", "requested", "hi"))
    notifier = Notifier(engine, url, "https://console.example.org/", tries=3, backoff_s=0.0)
    assert notifier.run_once() == 0
    assert len(responses.calls) == 3
    assert notifier.pending() == []  # given up on, not retried forever


def test_messenger_reply_goes_out_with_the_human_agent_tag(
    client: FlaskClient, engine: sa.engine.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in messenger_payloads.ENV.items():
        monkeypatch.setenv(name, value)
    psid = messenger_payloads.new_psid()
    handoff = HandoffStore(str(engine.url)).record(Handoff(psid, "messenger", "requested", "a person please"))
    login(client, "alice")
    csrf = token(client, "/")
    client.post(f"/handoffs/{handoff}/claim", data={"csrf_token": csrf})
    with aioresponses() as graph:
        graph.post(messenger_payloads.SEND_URL, payload=messenger_payloads.load("send_ok"), repeat=True)
        page = client.post(
            f"/handoffs/{handoff}/reply",
            data={"reply-text": "Hi, this is Alice from the team.", "csrf_token": csrf},
            follow_redirects=True,
        ).get_data(as_text=True)
        bodies = messenger_payloads.sent(graph)
    assert bodies == [
        {
            "recipient": {"id": psid},
            "messaging_type": "MESSAGE_TAG",
            "tag": "HUMAN_AGENT",
            "message": {"text": "Hi, this is Alice from the team."},
        }
    ]
    assert "Reply sent as 1 message(s) (human-agent tag)" in page
    replies = client.get(f"/api/handoffs/{handoff}").get_json()["replies"]
    assert [(r["author"], r["delivery"]) for r in replies] == [
        ("alice", "sent as 1 message(s) (human-agent tag)")
    ]
