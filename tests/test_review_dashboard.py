"""Learning from travelers: the conversation log, the review queue and the dashboard.

The tracker is a real Rasa tracker store written by Rasa's own SQLTrackerStore
(tests/review_dashboard_data.py), in a SQLite file as in the embedded setup and
in PostgreSQL as in scaled mode; the review queue embeds with the real MiniLM
model; the console is the real Flask app.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import re
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple
from urllib.parse import parse_qs, urlsplit

import matplotlib.image
import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain

from console import ConsoleSecrets, create_app
from tests.postgres import fresh_database
from tests.review_dashboard_data import (
    CHARGER_CLARIFY,
    DAY_1,
    DAY_2,
    PERSONAL,
    seed,
)
from travelbot.casework import CaseStore
from travelbot.conversation_log import ConversationLog, read_only
from travelbot.handoffs import HandoffStore
from travelbot.review_queue import ReviewQueue
from travelbot.settings import Settings
from travelbot.users import UserStore

PASSWORD = "correct horse battery"
SECRETS = ConsoleSecrets.parse_obj({"secret_key": "k" * 40, "rasa_token": "test-token"})


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Any]:
    """The embedded setup: Rasa's tracker in one SQLite file, our records in another."""
    root = tmp_path_factory.mktemp("learning")
    tracker_db, records = root / "tracker.db", HandoffStore(f"sqlite:///{root / 'records.db'}").engine
    seed(SQLTrackerStore(Domain.empty(), dialect="sqlite", db=str(tracker_db)), records)
    return {"tracker_db": tracker_db, "records": records}


@pytest.fixture(scope="module")
def log(world: Dict[str, Any]) -> ConversationLog:
    return ConversationLog(read_only(f"sqlite:///{world['tracker_db']}"), world["records"])


@pytest.fixture(scope="module")
def app(world: Dict[str, Any]) -> Flask:
    records = world["records"]
    config = Settings.parse_obj(
        {"server": {"tracker_db": str(world["tracker_db"])}, "agent_hours": {"timezone": "UTC"}}
    )
    users = UserStore(records)
    for name, role in (("alice", "agent"), ("eve", "editor"), ("root", "admin")):
        users.add(name, PASSWORD, role)
    return create_app(config, SECRETS, users, CaseStore(records), rasa_url="http://127.0.0.1:9")


@pytest.fixture(scope="module")
def queue(app: Flask) -> ReviewQueue:
    review = app.extensions["travelbot_review"]
    assert isinstance(review, ReviewQueue)
    return review


def signed_in(app: Flask, name: str) -> FlaskClient:
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    assert token, page[:1000]
    reply = client.post("/login", data={"name": name, "password": PASSWORD, "csrf_token": token.group(1)})
    assert reply.status_code == 302
    return client


@pytest.fixture(scope="module")
def editor(app: Flask) -> Iterator[FlaskClient]:
    yield signed_in(app, "eve")


def since(log: ConversationLog) -> dt.datetime:
    return log.start_of(30)


def question(log: ConversationLog, text: str) -> Any:
    return next(q for q in log.questions(since(log)) if q.text.startswith(text))


PER_CHANNEL_PER_DAY = {
    (DAY_2, "webchat"): 1,
    (DAY_2, "twilio_sms"): 1,
    (DAY_1, "twilio_sms"): 1,  # the same traveler after the restart: a new conversation
    (DAY_1, "webchat"): 3,
    (DAY_1, "messenger"): 1,
    (DAY_1, "rest"): 1,
}


def test_conversations_per_channel_per_day(log: ConversationLog) -> None:
    counts = {(c.day, c.channel): c.conversations for c in log.per_channel_per_day(since(log))}
    assert counts == PER_CHANNEL_PER_DAY
    assert log.per_channel_per_day(log.start_of(1)) == []  # nothing today


def test_containment_counts_answered_conversations_without_a_handoff(log: ConversationLog) -> None:
    days = {c.day: (c.conversations, c.contained) for c in log.containment(since(log))}
    # Day -2: web-1 answered; the SMS one was handed off. Day -1: web-2 (chosen) and fb-1 answered;
    # the thanks-only SMS session, the declined refund and both handoffs were not.
    assert days == {DAY_2: (2, 1), DAY_1: (6, 2)}


def test_decisions_follow_their_questions(log: ConversationLog) -> None:
    handed = question(log, "are portable chargers")
    assert (handed.channel, handed.decision, handed.reason) == ("twilio_sms", "handoff", "low_confidence")
    assert handed.handoff_id is not None and handed.asked_at.date() == DAY_2
    clarified = question(log, CHARGER_CLARIFY)
    assert clarified.decision == "clarify" and clarified.choices == ("power-banks", "lithium-batteries")
    assert question(log, "hello?").decision is None  # sent while the conversation was with a person
    assert question(log, "do I need").entry_id == "real-id"
    assert not [q for q in log.questions(since(log)) if q.text.startswith("/choose")]


def test_handoffs_by_reason_and_feedback_by_entry(log: ConversationLog) -> None:
    reasons = {(r.reason, r.handoffs, r.urgent) for r in log.handoffs_by_reason(since(log))}
    assert reasons == {("low_confidence", 1, 0), ("personal_case", 1, 0), ("sensitive", 1, 1)}
    feedback = {(f.entry_id, f.helpful, f.not_helpful) for f in log.feedback_by_entry(since(log))}
    assert feedback == {("power-banks", 1, 1), ("real-id", 1, 0)}  # fb-1 changed their mind: latest counts
    assert [d.question for d in log.thumbs_down(since(log))] == ["is a 20000mAh power bank ok? txt [phone]"]


def test_every_traveler_text_from_the_log_is_redacted(log: ConversationLog) -> None:
    texts = [q.text for q in log.questions(since(log))] + [d.question for d in log.thumbs_down(since(log))]
    assert "are portable chargers allowed in carry-on bags? call me [phone]" in texts
    assert "how do I get a refund for my plane ticket, email me at [email]" in texts
    assert "my passport [number] was stolen at the checkpoint" in texts
    assert not [t for t in texts for p in PERSONAL if p in t]


def test_paraphrases_share_a_group_and_other_questions_do_not(queue: ReviewQueue) -> None:
    groups = queue.clusters(since(queue.log))
    where = {item.text: n for n, g in enumerate(groups) for item in g.items}
    charger_handoff = "are portable chargers allowed in carry-on bags? call me [phone]"
    assert where[charger_handoff] == where[CHARGER_CLARIFY]
    others = [t for t in where if t.startswith(("how do I get a refund", "my passport"))]
    assert len(others) == 2 and len({where[t] for t in others}) == 2
    assert where[charger_handoff] not in {where[t] for t in others}
    # Small talk, security-sensitive questions (never to become an entry), button payloads, messages to
    # an agent and answered questions are not in the queue.
    assert not [t for t in where if "sneak" in t]
    assert not [t for t in where if t in ("hi", "thanks bye", "do I need a REAL ID to fly")]
    assert not [t for t in where if t.startswith(("hello?", "/choose", "can I bring my power bank"))]
    chargers = groups[where[charger_handoff]]
    assert dict(chargers.entries)["power-banks"] >= 2  # the handoff's candidates and the clarify's choices
    assert chargers.newest.date() == DAY_1 and chargers.size >= 2
    assert groups[0] is chargers  # the most asked group first
    newest_first = queue.clusters(since(queue.log), "newest")
    assert [g.newest for g in newest_first] == sorted((g.newest for g in newest_first), reverse=True)


def test_review_queue_page_links_to_the_editor(editor: FlaskClient) -> None:
    page = editor.get("/review").get_data(as_text=True)
    assert CHARGER_CLARIFY in page and "my passport [number] was stolen" in page
    create = [urlsplit(h) for h in re.findall(r'href="([^"]+)" class="create-entry"', page)]
    phrasings = [parse_qs(u.query.replace("&amp;", "&")).get("phrasing", []) for u in create]
    assert create[0].path == "/editor/new"
    assert CHARGER_CLARIFY in phrasings[0]
    assert not [p for ps in phrasings for p in ps if "[" in p]  # redacted questions are never offered
    add = re.findall(r'href="(/editor/entries/power-banks\?[^"]+)" class="add-phrasings"', page)
    assert add and CHARGER_CLARIFY in parse_qs(urlsplit(add[0].replace("&amp;", "&")).query)["add_phrasing"]


def read_csv(client: FlaskClient, name: str) -> List[Dict[str, str]]:
    reply = client.get(f"/dashboard/{name}.csv?days=30")
    assert reply.status_code == 200 and reply.mimetype == "text/csv"
    assert f'filename="{name}-30d.csv"' in reply.headers["Content-Disposition"]
    return list(csv.DictReader(io.StringIO(reply.get_data(as_text=True))))


def test_dashboard_numbers_as_csv(editor: FlaskClient) -> None:
    channels = {(r["day"], r["channel"]): int(r["conversations"]) for r in read_csv(editor, "channels")}
    assert channels[(DAY_1.isoformat(), "webchat")] == 3 and sum(channels.values()) == 8
    containment = {
        r["day"]: (r["conversations"], r["answered_without_handoff"]) for r in read_csv(editor, "containment")
    }
    assert containment == {DAY_2.isoformat(): ("2", "1"), DAY_1.isoformat(): ("6", "2")}
    handoffs = {r["reason"]: (r["handoffs"], r["urgent"]) for r in read_csv(editor, "handoffs")}
    assert handoffs == {"low_confidence": ("1", "0"), "personal_case": ("1", "0"), "sensitive": ("1", "1")}
    feedback = [(r["entry_id"], r["helpful"], r["not_helpful"]) for r in read_csv(editor, "feedback")]
    assert feedback == [("power-banks", "1", "1"), ("real-id", "1", "0")]
    unanswered = read_csv(editor, "unanswered")
    assert unanswered[0]["rank"] == "1" and int(unanswered[0]["questions"]) >= 2
    assert "power-banks" in unanswered[0]["entries_considered"].split()
    assert {r["example"] for r in unanswered} >= {"my passport [number] was stolen at the checkpoint"}


def test_dashboard_serves_each_chart_as_a_png(editor: FlaskClient) -> None:
    page = editor.get("/dashboard?days=30").get_data(as_text=True)
    sources = re.findall(r'<img src="([^"]+)"', page)
    assert len(sources) == 5
    for source in sources:
        reply = editor.get(source.replace("&amp;", "&"))
        assert reply.status_code == 200 and reply.mimetype == "image/png", source
        pixels = matplotlib.image.imread(io.BytesIO(reply.get_data()), format="png")
        assert pixels.shape[:2] == (400, 900)
        assert pixels.std() > 0.01  # something is drawn
    assert editor.get("/dashboard/nope.png").status_code == 404
    assert editor.get("/dashboard/channels.png?days=0").status_code == 400


def test_nothing_personal_in_any_page_or_download(app: Flask, editor: FlaskClient) -> None:
    admin = signed_in(app, "root")
    outputs: List[Tuple[str, str]] = []
    for client in (editor, admin):
        for path in ("/review", "/review?order=newest", "/dashboard"):
            outputs.append((path, client.get(path).get_data(as_text=True)))
    for name in ("channels", "containment", "handoffs", "unanswered", "feedback"):
        outputs.append((name, editor.get(f"/dashboard/{name}.csv").get_data(as_text=True)))
    assert all(text for _, text in outputs)
    leaks = [(where, p) for where, text in outputs for p in PERSONAL if p in text]
    assert leaks == []


def test_agents_and_visitors_are_refused(app: Flask) -> None:
    agent = signed_in(app, "alice")
    paths = ["/review", "/dashboard", "/dashboard/channels.png", "/dashboard/feedback.csv"]
    assert [agent.get(p).status_code for p in paths] == [403] * 4
    visitor = app.test_client()
    for path in paths:
        reply = visitor.get(path)
        assert reply.status_code == 302 and reply.headers["Location"].startswith("/login")


def test_csv_cells_never_run_as_spreadsheet_formulas() -> None:
    from console.dashboard import Table, csv_text

    text = csv_text(Table(("example",), [("=HYPERLINK(1)",), ("+1",), ("fine",)]))
    assert text.splitlines() == ["example", "'=HYPERLINK(1)", "'+1", "fine"]


def test_the_tracker_is_only_read(world: Dict[str, Any], log: ConversationLog) -> None:
    before = hashlib.sha256(world["tracker_db"].read_bytes()).hexdigest()
    log.conversations(since(log))
    assert hashlib.sha256(world["tracker_db"].read_bytes()).hexdigest() == before
    with pytest.raises(sa.exc.OperationalError, match="readonly"), log.tracker.begin() as conn:
        conn.execute(sa.text("DELETE FROM events"))


def test_no_tracker_yet_means_empty_numbers(tmp_path: Path, world: Dict[str, Any]) -> None:
    missing = tmp_path / "never-created.db"
    empty = ConversationLog(read_only(f"sqlite:///{missing}"), world["records"])
    assert empty.conversations(since(empty)) == [] and empty.containment(since(empty)) == []
    assert not missing.exists()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database, dropped afterwards."""
    with fresh_database("travelbot_test", "PostgreSQL tests") as url:
        yield url


def test_scaled_mode_reads_the_tracker_from_postgresql(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Scaled mode: Rasa's events and our records share the database named by $TRAVELBOT_DATABASE_URL."""
    monkeypatch.setenv("TRAVELBOT_DATABASE_URL", postgres_url)
    records = HandoffStore(postgres_url).engine
    seed(SQLTrackerStore(Domain.empty(), dialect="postgresql", host=postgres_url), records)
    config = Settings.parse_obj({"storage": {"backend": "postgresql"}, "agent_hours": {"timezone": "UTC"}})
    log = ConversationLog.from_settings(config, records)
    try:
        counts = {(c.day, c.channel): c.conversations for c in log.per_channel_per_day(since(log))}
        assert counts == PER_CHANNEL_PER_DAY
        reasons = {(r.reason, r.handoffs) for r in log.handoffs_by_reason(since(log))}
        assert reasons == {("low_confidence", 1), ("personal_case", 1), ("sensitive", 1)}
        with pytest.raises(sa.exc.InternalError, match="read-only"), log.tracker.begin() as conn:
            conn.execute(sa.text("DELETE FROM events"))
    finally:
        log.tracker.dispose()
        records.dispose()
