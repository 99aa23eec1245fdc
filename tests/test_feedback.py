"""Thumbs up/down feedback: the durable store, body validation, and the real endpoint."""

import json
import uuid
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa

from channels.rest import BadRequest
from channels.webchat import known_entry_ids, parse_feedback
from knowledge.corpus import load_corpus
from tests.servers import Servers
from travelbot.feedback import FeedbackStore, Vote
from travelbot.handoffs import Handoff, HandoffStore

KNOWN_ENTRY = "power-banks"


def store_at(path: Path) -> FeedbackStore:
    return FeedbackStore(sa.create_engine(f"sqlite:///{path}", future=True))


def test_votes_survive_a_new_connection_and_share_the_handoff_db(tmp_path: Path) -> None:
    db = tmp_path / "travelbot.db"
    handoffs = HandoffStore(f"sqlite:///{db}")
    handoffs.record(Handoff("web-1", "webchat", "requested", "agent"))
    first = FeedbackStore(handoffs.engine)
    vote_id = first.record(Vote("web-1", KNOWN_ENTRY, helpful=False, question="power bank in checked bag?"))
    handoffs.engine.dispose()

    again = store_at(db).votes()  # a fresh engine, as after a restart
    assert [(v.id, v.sender, v.entry_id, v.helpful, v.question, v.channel) for v in again] == [
        (vote_id, "web-1", KNOWN_ENTRY, False, "power bank in checked bag?", "webchat")
    ]
    assert again[0].created_at is not None
    assert [h.reason for h in HandoffStore(f"sqlite:///{db}").for_conversation("web-1")] == ["requested"]
    assert set(sa.inspect(sa.create_engine(f"sqlite:///{db}")).get_table_names()) >= {"handoffs", "feedback"}


def test_votes_by_sender_and_a_changed_mind_counts_once(tmp_path: Path) -> None:
    store = store_at(tmp_path / "f.db")
    store.record(Vote("a", KNOWN_ENTRY, helpful=True))
    store.record(Vote("b", KNOWN_ENTRY, helpful=True))
    store.record(Vote("a", KNOWN_ENTRY, helpful=False, question="q"))
    assert [v.helpful for v in store.votes("a")] == [True, False]
    assert [v.question for v in store.votes("b")] == [None]
    latest = {(v.sender, v.entry_id): v.helpful for v in store.latest_votes()}
    assert latest == {("a", KNOWN_ENTRY): False, ("b", KNOWN_ENTRY): True}


def test_a_good_body_becomes_a_vote() -> None:
    body = {"sender": " web-x ", "entry_id": KNOWN_ENTRY, "helpful": False, "question": "  can i?  "}
    vote = parse_feedback(json.dumps(body).encode())
    assert (vote.sender, vote.entry_id, vote.helpful, vote.question, vote.channel) == (
        "web-x",
        KNOWN_ENTRY,
        False,
        "can i?",
        "webchat",
    )
    assert parse_feedback(json.dumps({**body, "question": None}).encode()).question is None
    assert parse_feedback(json.dumps({**body, "question": "  "}).encode()).question is None


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [
        (b"{not json", 400, "not valid JSON"),
        (b"\xff\xfe\x00", 400, "UTF-8"),
        (b"[1]", 400, "JSON object"),
        (json.dumps({"entry_id": "x", "helpful": True}).encode(), 400, "'sender'"),
        (json.dumps({"sender": "a" * 200, "entry_id": "x", "helpful": True}).encode(), 400, "'sender'"),
        (json.dumps({"sender": "a", "helpful": True}).encode(), 400, "'entry_id'"),
        (json.dumps({"sender": "a", "entry_id": 7, "helpful": True}).encode(), 400, "'entry_id'"),
        (json.dumps({"sender": "a", "entry_id": "x"}).encode(), 400, "'helpful'"),
        (json.dumps({"sender": "a", "entry_id": "x", "helpful": "yes"}).encode(), 400, "'helpful'"),
        (json.dumps({"sender": "a", "entry_id": "x", "helpful": 1}).encode(), 400, "'helpful'"),
        (
            json.dumps({"sender": "a", "entry_id": "x", "helpful": True, "question": 3}).encode(),
            400,
            "question",
        ),
        (
            json.dumps({"sender": "a", "entry_id": "x", "helpful": True, "question": "q" * 30_000}).encode(),
            413,
            "question",
        ),
        (b" " * (65 * 1024), 413, "larger"),
    ],
)
def test_bad_bodies_say_what_is_wrong(body: bytes, status: int, reason: str) -> None:
    with pytest.raises(BadRequest) as caught:
        parse_feedback(body)
    assert caught.value.status == status
    assert reason in caught.value.reason


def test_known_entry_ids_are_the_corpus_ids() -> None:
    ids = known_entry_ids()
    assert ids == {entry.id for entry in load_corpus()}
    assert KNOWN_ENTRY in ids and "no-such-entry" not in ids


def post(servers: Servers, body: object) -> requests.Response:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return requests.post(f"{servers.rasa_url}/webhooks/webchat/feedback", data=data, timeout=30)


@pytest.mark.slow
def test_the_endpoint_stores_a_vote_in_the_servers_db(servers: Servers) -> None:
    who = f"test-{uuid.uuid4().hex[:12]}"
    reply = post(
        servers, {"sender": who, "entry_id": KNOWN_ENTRY, "helpful": False, "question": "power bank?"}
    )
    assert reply.status_code == 201, reply.text
    assert reply.json()["status"] == "stored"
    votes = store_at(servers.handoff_db).votes(who)
    assert [(v.id, v.entry_id, v.helpful, v.question, v.channel) for v in votes] == [
        (reply.json()["id"], KNOWN_ENTRY, False, "power bank?", "webchat")
    ]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [
        (b"{not json", 400, "not valid JSON"),
        ({"sender": "a", "entry_id": KNOWN_ENTRY, "helpful": "no"}, 400, "'helpful'"),
        ({"sender": "a", "entry_id": "no-such-entry", "helpful": True}, 400, "not a known answer"),
        ({"sender": "a", "entry_id": "<script>", "helpful": True}, 400, "not a known answer"),
        (b"", 400, "not valid JSON"),
    ],
)
def test_the_endpoint_answers_bad_bodies_with_a_400(
    servers: Servers, body: object, status: int, reason: str
) -> None:
    reply = post(servers, body)
    assert reply.status_code == status
    assert reason in reply.json()["error"]


@pytest.mark.slow
def test_the_page_allows_only_its_own_scripts(servers: Servers) -> None:
    page = requests.get(f"{servers.rasa_url}/webhooks/webchat/chat", timeout=30)
    policy = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "http" not in policy
    assert page.headers["X-Content-Type-Options"] == "nosniff"
