"""The FAQ editor pages of the staff console (/editor/): roles, CSRF, list, inline validation, drafts.

The real Flask app with a real SQLite database and a copy of the corpus in a temporary directory
(``corpus_dir``); the real knowledge/corpus is never written. Preview and publishing with the real model,
index and gate: tests/test_editor_publish.py.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator, List
from urllib.parse import quote_plus

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from knowledge.corpus import CORPUS_DIR, entry_files, load_corpus, read_entry
from knowledge.validate import reading_grade
from tests.editor_client import (
    EDITED,
    copy_corpus,
    field_errors,
    form_of,
    make_app,
    settings_for,
    signed_in,
    token,
)
from travelbot import audit
from travelbot.audit import AuditLog
from travelbot.drafts import DraftStore
from travelbot.handoffs import HandoffStore
from travelbot.settings import Settings


@pytest.fixture
def root(tmp_path: Path) -> Path:
    copy_corpus(tmp_path)
    return tmp_path


@pytest.fixture
def config(root: Path) -> Settings:
    return settings_for(root)


@pytest.fixture
def app(config: Settings) -> Flask:
    return make_app(config)


@pytest.fixture
def engine(config: Settings) -> sa.engine.Engine:
    return HandoffStore(config.storage.url()).engine


@pytest.fixture
def editor(app: Flask) -> Iterator[FlaskClient]:
    yield from signed_in(app, "eve")


@pytest.fixture
def admin(app: Flask) -> Iterator[FlaskClient]:
    yield from signed_in(app, "root")


def editor_routes(app: Flask) -> List[tuple]:
    routes = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("editor."):
            built = rule.build({arg: EDITED for arg in rule.arguments}, append_unknown=False)
            assert built is not None
            for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
                routes.append((method, built[1]))
    return routes


def test_only_editors_and_admins_may_use_the_editor(app: Flask) -> None:
    routes = editor_routes(app)
    assert len(routes) >= 12
    with app.test_client() as anonymous:
        for method, path in routes:
            assert anonymous.open(path, method=method).status_code in (302, 401), (method, path)
    for agent in signed_in(app, "alice"):
        csrf = token(agent, "/")
        for method, path in routes:
            reply = agent.open(path, method=method, data={"csrf_token": csrf})
            assert reply.status_code == 403, (method, path, reply.status_code)
        assert "FAQ editor" not in agent.get("/").get_data(as_text=True)
    for name in ("eve", "root"):
        for client in signed_in(app, name):
            assert 'href="/editor/">FAQ editor</a>' in client.get("/").get_data(as_text=True)
            for method, path in routes:
                if method == "GET":
                    assert client.get(path).status_code == 200, (name, path)


def test_every_editor_post_needs_the_csrf_token(app: Flask, editor: FlaskClient, root: Path) -> None:
    files = {p: p.read_bytes() for p in entry_files(root / "knowledge" / "corpus")}
    for method, path in editor_routes(app):
        if method == "POST" and not path.endswith("/api/readability"):
            assert editor.post(path, data={"reason": "x", "question": "x"}).status_code == 400, path
    reply = editor.post("/editor/api/readability", json={"field": "answer", "text": "Short words."})
    assert reply.status_code == 400
    good = editor.post(
        "/editor/api/readability",
        json={"field": "answer", "text": "Short words."},
        headers={"X-CSRFToken": token(editor, "/editor/new")},
    )
    assert good.status_code == 200
    assert {p: p.read_bytes() for p in files} == files and DraftStore(
        HandoffStore(settings_for(root).storage.url()).engine
    ).all() == []


# --- console: list, validation, drafts -----------------------------------------------------------


def test_list_and_search(editor: FlaskClient) -> None:
    page = editor.get("/editor/?q=cream+chee").get_data(as_text=True)
    rows = re.findall(r'<tr data-entry="([^"]+)">', page)
    assert EDITED in rows and "food" not in rows and len(rows) < 20
    everything = re.findall(r'<tr data-entry="([^"]+)">', editor.get("/editor/").get_data(as_text=True))
    assert len(everything) == len(entry_files(CORPUS_DIR))
    assert (
        re.findall(r'<tr data-entry="([^"]+)">', editor.get("/editor/?show=drafts").get_data(as_text=True))
        == []
    )


def test_inline_validation_uses_the_validator_rules(editor: FlaskClient, config: Settings) -> None:
    path = config.corpus_path() / "items" / f"{EDITED}.yml"
    before = path.read_bytes()
    entry = read_entry(path, config.corpus_path())
    hard = (
        "Notwithstanding jurisdictional considerations, individuals transporting unpasteurized dairy "
        "preparations should anticipate supplementary inspection procedures administered comprehensively."
    )
    data = form_of(
        entry,
        csrf_token=token(editor, f"/editor/entries/{EDITED}"),
        answer=hard,
        answer_sms="x" * 321,
        phrasings="only one\r\nand two",
        source_url="http://example.org",
        aliases="Laughing Cow\r\nHidden Valley",  # Hidden Valley is the ranch dressing's alias
    )
    reply = editor.post(f"/editor/entries/{EDITED}", data=data)
    assert reply.status_code == 422
    html = reply.get_data(as_text=True)
    assert field_errors(html, "answer_sms") and "320" in field_errors(html, "answer_sms")[0]
    assert field_errors(html, "phrasings") and "at least 3" in field_errors(html, "phrasings")[0]
    assert field_errors(html, "source_url") == ["must be an https:// address"]
    assert hard in html  # the editor's text is kept in the form
    # The schema is happy; now the editorial rules (validate.py) on the draft corpus speak.
    data.update(
        answer_sms=entry.answer_sms, phrasings="\r\n".join(entry.phrasings), source_url=entry.source_url
    )
    html = editor.post(f"/editor/entries/{EDITED}", data=data).get_data(as_text=True)
    grade = f"{reading_grade(hard):.1f}"
    assert field_errors(html, "answer") == [f"reading grade {grade} &gt; 9"]
    assert any("Hidden Valley" in e and "also an alias" in e for e in field_errors(html, "aliases")), html
    assert (
        path.read_bytes() == before
        and editor.get("/editor/?show=drafts").get_data(as_text=True).count("<tr data-entry") == 0
    )


def test_retiring_a_tsa_item_is_refused_inline(
    editor: FlaskClient, config: Settings, engine: sa.engine.Engine
) -> None:
    reply = editor.post(
        f"/editor/entries/{EDITED}/retire", data={"csrf_token": token(editor, f"/editor/entries/{EDITED}")}
    )
    assert reply.status_code == 422
    errors = field_errors(reply.get_data(as_text=True), "entry")
    assert "Not retired: missing" in errors  # TSA's list has the item: validate requires the entry
    assert "Not retired: related: cheese-solid: unknown id &#39;cheese-creamy&#39;" in errors  # it links here
    assert DraftStore(engine).all() == []


def test_save_and_discard_a_draft(editor: FlaskClient, config: Settings, engine: sa.engine.Engine) -> None:
    path = config.corpus_path() / "items" / f"{EDITED}.yml"
    before = path.read_bytes()
    entry = read_entry(path, config.corpus_path())
    new_answer = entry.answer + "\n\nSoft cheese in a sealed tub is fine in checked bags."
    data = form_of(entry, csrf_token=token(editor, f"/editor/entries/{EDITED}"), answer=new_answer)
    reply = editor.post(f"/editor/entries/{EDITED}", data=data)
    assert reply.status_code == 303, reply.get_data(as_text=True)[:3000]
    drafts = DraftStore(engine).all()
    assert [(d.entry_id, d.author) for d in drafts] == [(EDITED, "eve")]
    assert drafts[0].entry is not None and drafts[0].entry.answer == new_answer
    assert path.read_bytes() == before  # a draft is not the file
    page = editor.get(f"/editor/entries/{EDITED}").get_data(as_text=True)
    assert "Unpublished draft by eve" in page and "Soft cheese in a sealed tub" in page
    rows = editor.get("/editor/?show=drafts").get_data(as_text=True)
    assert (
        re.findall(r'<tr data-entry="([^"]+)">', rows) == [EDITED] and '<td class="draft">edit</td>' in rows
    )
    publish_page = editor.get("/editor/publish").get_data(as_text=True)
    assert "+  Soft cheese in a sealed tub is fine in checked bags." in publish_page  # the file's diff

    reply = editor.post(
        f"/editor/entries/{EDITED}/discard", data={"csrf_token": token(editor, f"/editor/entries/{EDITED}")}
    )
    assert reply.status_code == 303 and DraftStore(engine).all() == []
    actions = [(e.actor, e.action, e.target) for e in AuditLog(engine).recent(10)]
    assert actions == [("eve", audit.DRAFT_DISCARDED, EDITED), ("eve", audit.DRAFT_SAVED, EDITED)]
    assert "draft_discarded" in editor.get("/editor/audit").get_data(as_text=True)


def test_create_with_prefilled_phrasings(
    editor: FlaskClient, config: Settings, engine: sa.engine.Engine
) -> None:
    page = editor.get("/editor/new?phrasing=can+i+bring+cheese+curds&phrasing=curds+in+carry+on").get_data(
        as_text=True
    )
    assert "can i bring cheese curds\ncurds in carry on</textarea>" in page
    page = editor.get(f"/editor/entries/{EDITED}?add_phrasing=is+cream+cheese+a+liquid").get_data(
        as_text=True
    )
    assert "laughing cow cheese tsa\nis cream cheese a liquid</textarea>" in page
    # a traveler's long message is proposed as a chat phrasing, not as one of the 3 to 8 short ones
    long = "flying home from wisconsin with a cooler of cheese curds for my mom, can they go in my carry on"
    page = editor.get(
        f"/editor/entries/{EDITED}?add_phrasing=curds+tsa&add_phrasing={quote_plus(long)}"
    ).get_data(as_text=True)
    boxes = r'<textarea[^>]*name="(?:chat_)?phrasings"[^>]*>(.*?)</textarea>'
    short_box, chat_box = re.findall(boxes, page, re.S)
    assert short_box.endswith("curds tsa") and long not in short_box
    assert chat_box.strip().splitlines()[-1] == long  # after the entry's own chat phrasings

    template = read_entry(config.corpus_path() / "items" / f"{EDITED}.yml", config.corpus_path())
    data = form_of(
        template,
        csrf_token=token(editor, "/editor/new"),
        id="",
        kind="topic",
        title="Lost boarding pass",
        phrasings="\r\n".join(
            ["lost my boarding pass", "boarding pass missing at security", "can i get a new boarding pass"]
        ),
        aliases="lost pass",
        answer="Ask your airline's desk for a new boarding pass. You can also show it on your phone.",
        answer_sms="Ask your airline for a new boarding pass, or show it on your phone.",
        carry_on="",
        checked="",
        related="",
    )
    reply = editor.post("/editor/new", data=data)
    assert reply.status_code == 303, reply.get_data(as_text=True)[-3000:]
    assert reply.headers["Location"].endswith("/editor/entries/lost-boarding-pass")
    draft = DraftStore(engine).get("lost-boarding-pass")
    assert draft is not None and draft.entry is not None and draft.entry.kind.value == "topic"
    rows = editor.get("/editor/?show=drafts").get_data(as_text=True)
    assert '<td class="draft">new</td>' in rows
    data["csrf_token"] = token(editor, "/editor/new")
    again = editor.post("/editor/new", data=data)
    assert again.status_code == 422 and "exists already" in again.get_data(as_text=True)


def test_readability_endpoint_uses_the_validator(editor: FlaskClient) -> None:
    headers = {"X-CSRFToken": token(editor, "/editor/new")}
    easy, hard = (
        "You can bring it. Put it in your bag.",
        "Notwithstanding jurisdictional considerations apply.",
    )
    for field, limit in (("answer", 9.0), ("answer_sms", 8.0)):
        for text in (easy, hard):
            data = editor.post(
                "/editor/api/readability", json={"field": field, "text": text}, headers=headers
            ).json
            assert data is not None
            assert data["grade"] == round(reading_grade(text), 1) and data["limit"] == limit
            assert data["ok"] == (reading_grade(text) <= limit)
    sms = editor.post(
        "/editor/api/readability", json={"field": "answer_sms", "text": easy}, headers=headers
    ).json
    assert sms is not None and sms["chars"] == len(easy) and sms["max_chars"] == 320
    bad = editor.post("/editor/api/readability", json={"field": "title", "text": easy}, headers=headers)
    assert bad.status_code == 400
    assert '<script src="/static/editor.js">' in editor.get("/editor/new").get_data(as_text=True)


def test_only_an_admin_may_override_the_gate(editor: FlaskClient, engine: sa.engine.Engine) -> None:
    data = {"csrf_token": token(editor, "/editor/publish"), "reason": "x", "override": "trust me"}
    assert editor.post("/editor/publish", data=data).status_code == 403
    assert 'name="override"' not in editor.get("/editor/publish").get_data(as_text=True)
    reasonless = editor.post("/editor/publish", data={"csrf_token": token(editor, "/editor/publish")})
    assert reasonless.status_code == 422 and "say why" in reasonless.get_data(as_text=True)
    assert AuditLog(engine).recent(5) == []


def test_refused_publish_puts_the_files_back_and_keeps_the_drafts(
    admin: FlaskClient, config: Settings, engine: sa.engine.Engine
) -> None:
    """A draft that does not validate (saved around the form's checks) is refused before any index work."""
    corpus_dir = config.corpus_path()
    files = {p: p.read_bytes() for p in entry_files(corpus_dir)}
    entry = read_entry(corpus_dir / "items" / f"{EDITED}.yml", corpus_dir)
    unlinked = sorted(
        {e.id for e in load_corpus(corpus_dir)} - {r for e in load_corpus(corpus_dir) for r in e.related}
    )
    retired = next(i for i in unlinked if (corpus_dir / "items" / f"{i}.yml").exists())
    DraftStore(engine).save(
        entry.copy(update={"answer_sms": entry.answer_sms + " See https://tsa.gov"}), "root"
    )
    DraftStore(engine).retire(retired, "root")
    reply = admin.post(
        "/editor/publish", data={"csrf_token": token(admin, "/editor/publish"), "reason": "tidy"}
    )
    assert reply.status_code == 409
    html = reply.get_data(as_text=True)
    assert "Not published: nothing changed, the drafts are kept." in html
    assert f"{EDITED}: answer_sms: must stand alone without links" in html
    assert f"corpus/items/{retired}.yml: {retired}: (entry): missing" in html
    assert {p: p.read_bytes() for p in entry_files(corpus_dir)} == files
    assert [d.entry_id for d in DraftStore(engine).all()] == sorted([EDITED, retired])
    event = AuditLog(engine).recent(1)[0]
    assert (event.actor, event.action) == ("root", audit.PUBLISH_REFUSED)
    assert event.detail["drafts"] == sorted([EDITED, retired]) and event.detail["reason"] == "tidy"
    assert any("refused: the corpus does not validate" in line for line in event.detail["lines"])
