"""Preview and publish from the FAQ editor with the real MiniLM model, FAISS index and Rasa NLU gate.

A copy of the corpus and of the built index in a temporary directory; its unchanged files are published
first (version 1), as `travelbot publish` requires. The real knowledge/corpus and var/index are never written.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Dict, Tuple

import pytest
from flask import Flask
from flask.testing import FlaskClient

from knowledge.corpus import load_corpus, read_entry
from knowledge.entry_files import find_entry_file
from knowledge.policy import Policy
from knowledge.publish import build_at, cache_path, load_published, read_marker
from tests.editor_client import (
    EDITED,
    copy_corpus,
    copy_index,
    form_of,
    make_app,
    settings_for,
    signed_in,
    token,
)
from travelbot import audit
from travelbot.audit import AuditLog
from travelbot.drafts import DraftStore
from travelbot.gate import ParseCache, decide, gate_parses_path, load_questions, rasa_parser, regression_files
from travelbot.handoffs import HandoffStore
from travelbot.publications import PublicationStore
from travelbot.publisher import publish
from travelbot.settings import Settings

pytestmark = pytest.mark.slow

QUESTION = "can i bring cream cheese on a plane"
NEW_SMS_SENTENCE = "Cheese spread in a tube counts too."


@pytest.fixture(scope="module")
def live_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A corpus copy whose unchanged files are version 1 (the copied index brought up to date first)."""
    root = tmp_path_factory.mktemp("editor-live")
    copy_corpus(root)
    copy_index(root)
    return root


@pytest.fixture(scope="module")
def live_app(live_root: Path) -> Flask:
    config = settings_for(live_root)
    app = make_app(config)
    embedder = app.extensions["travelbot_embedder"]  # the console's own, shared with the baseline
    build_at(
        config.index_path(), load_corpus(config.corpus_path()), embedder, cache_path(config.index_path())
    )
    first = publish(config, reason="baseline", embedder=embedder, author="test")
    assert first.ok and first.version == 1 and first.gate == "baseline", first.lines
    return app


def preview(client: FlaskClient, question: str) -> Dict[str, str]:
    reply = client.post(
        "/editor/preview", data={"csrf_token": token(client, "/editor/preview"), "question": question}
    )
    assert reply.status_code == 200, reply.get_data(as_text=True)[-2000:]
    page = html.unescape(reply.get_data(as_text=True))
    found = {}
    for key in ("decision", "score", "answer-sms"):
        match = re.search(rf'id="{key}">([^<]*)<', page)
        found[key] = match.group(1) if match else ""
    entry = re.search(r'id="entry"><a href="/editor/entries/([^"]+)">', page)
    found["entry"] = entry.group(1) if entry else ""
    return found


def test_preview_answers_from_the_draft_and_publish_makes_it_live(live_app: Flask, live_root: Path) -> None:
    config = settings_for(live_root)
    engine = HandoffStore(config.storage.url()).engine
    path = config.corpus_path() / "items" / f"{EDITED}.yml"
    entry = read_entry(path, config.corpus_path())
    for editor in signed_in(live_app, "eve"):
        before = preview(editor, QUESTION)
        assert (before["decision"], before["entry"]) == ("answer", EDITED), before
        assert before["answer-sms"] == entry.answer_sms and float(before["score"]) > 0

        new_sms = f"{entry.answer_sms} {NEW_SMS_SENTENCE}"
        data = form_of(entry, csrf_token=token(editor, f"/editor/entries/{EDITED}"), answer_sms=new_sms)
        assert editor.post(f"/editor/entries/{EDITED}", data=data).status_code == 303
        after = preview(editor, QUESTION)
        assert (after["decision"], after["entry"], after["answer-sms"]) == ("answer", EDITED, new_sms)
        assert NEW_SMS_SENTENCE not in path.read_text(encoding="utf-8")  # previewing is not publishing

        reply = editor.post(
            "/editor/publish", data={"csrf_token": token(editor, "/editor/publish"), "reason": "tube cheese"}
        )
        page = html.unescape(reply.get_data(as_text=True))
        assert reply.status_code == 200, page[-3000:]
        assert "Published version 2." in page and "published version 2 (passed)" in page
    assert read_entry(path, config.corpus_path()).answer_sms == new_sms
    assert DraftStore(engine).all() == []
    marker = read_marker(config.index_path())
    assert marker is not None and marker.version == 2
    last = PublicationStore(engine).all()[-1]
    assert (last.version, last.author, last.reason, last.gate) == (2, "eve", "tube cheese", "passed")
    actions = [(e.action, e.target) for e in AuditLog(engine).recent(10, actor="eve")]
    assert actions == [
        (audit.PUBLISHED, ""),
        (audit.PREVIEWED, EDITED),
        (audit.DRAFT_SAVED, EDITED),
        (audit.PREVIEWED, EDITED),
    ]
    published = AuditLog(engine).recent(1)[0].detail
    assert published["version"] == 2 and published["drafts"] == [EDITED]


def _breakable(live_app: Flask, config: Settings) -> Tuple[str, str, str]:
    """A regression question the live version answers right, and another entry with room for a phrasing."""
    index_dir = config.index_path()
    marker = read_marker(index_dir)
    assert marker is not None
    embedder = live_app.extensions["travelbot_embedder"]
    live = load_published(index_dir, marker, config.corpus_path(), embedder)
    assert live is not None
    policy = Policy(live, config.retrieval)
    questions = load_questions(regression_files(config.corpus_path()))
    parse = ParseCache(gate_parses_path(index_dir)).parser([q.q for q in questions], rasa_parser)
    phrasings = {p.lower() for e in live.corpus for p in e.phrasings}
    for question in questions:
        if question.expect == "no_answer" or len(question.q.split()) < 6 or question.q.lower() in phrasings:
            continue
        result = decide(policy, parse(question.q))
        if result.decision == "answer" and result.entry_id in question.expect:
            thief = next(e.id for e in live.corpus if e.id not in question.expect and len(e.phrasings) < 8)
            return question.q, str(result.entry_id), thief
    pytest.fail("the live version answers no regression question correctly")


def test_gate_refusal_is_shown_and_an_admin_override_is_recorded(live_app: Flask, live_root: Path) -> None:
    config = settings_for(live_root)
    engine = HandoffStore(config.storage.url()).engine
    question, owner, thief = _breakable(live_app, config)
    saved = live_root / "knowledge" / "regression" / "saved.jsonl"
    saved.write_text(json.dumps({"q": question, "expect": [owner]}) + "\n", encoding="utf-8")
    thief_path = find_entry_file(config.corpus_path(), thief)
    assert thief_path is not None
    before = thief_path.read_bytes()
    entry = read_entry(thief_path, config.corpus_path())
    versions = len(PublicationStore(engine).all())
    for editor in signed_in(live_app, "eve"):
        data = form_of(
            entry,
            csrf_token=token(editor, f"/editor/entries/{thief}"),
            phrasings="\r\n".join([*entry.phrasings, question]),
        )
        assert editor.post(f"/editor/entries/{thief}", data=data).status_code == 303
        reply = editor.post(
            "/editor/publish",
            data={"csrf_token": token(editor, "/editor/publish"), "reason": "more phrasings"},
        )
        page = html.unescape(reply.get_data(as_text=True))
        assert reply.status_code == 409, page[-3000:]
        assert "REFUSED" in page and "fewer correct in-scope answers" in page
        assert f"saved.jsonl:1: {question!r}: answer {owner} -> " in page
        assert 'name="override"' not in page
    assert thief_path.read_bytes() == before and [d.entry_id for d in DraftStore(engine).all()] == [thief]
    assert len(PublicationStore(engine).all()) == versions
    refused = AuditLog(engine).recent(1)[0]
    assert (refused.actor, refused.action) == ("eve", audit.PUBLISH_REFUSED)

    for admin in signed_in(live_app, "root"):
        data = {
            "csrf_token": token(admin, "/editor/publish"),
            "reason": "more phrasings",
            "override": "the owner asked for it",
        }
        reply = admin.post("/editor/publish", data=data)
        assert reply.status_code == 200, html.unescape(reply.get_data(as_text=True))[-3000:]
    last = PublicationStore(engine).all()[-1]
    assert (last.author, last.gate, last.override_reason) == ("root", "overridden", "the owner asked for it")
    assert question in read_entry(thief_path, config.corpus_path()).phrasings
    assert DraftStore(engine).all() == []
    actions = [e.action for e in AuditLog(engine).recent(2, actor="root")]
    assert actions == [audit.OVERRIDE_USED, audit.PUBLISHED]
