"""Publication history, diffs and rollback (issue 6), from the CLI and the staff console.

Real parts throughout: the MiniLM model, FAISS, the trained Rasa NLU model's readings for the gate, the real
Flask console on a real SQLite database. Everything works on a copy of the corpus and of the index in a
temporary directory; the real knowledge/corpus is never written. The module's tests share one publication
history (publishing is the slow part), so each one reads the versions it needs from what is live.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from html import unescape
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Tuple

import pytest
import yaml
from flask import Flask
from flask.testing import FlaskClient

from console import create_app
from knowledge.corpus import CORPUS_DIR, KIND_FOLDERS, entry_files, load_corpus, read_entry
from knowledge.embedder import Embedder
from knowledge.entry_files import render_entry
from knowledge.policy import Policy
from knowledge.publish import build_at, cache_path, load_published, read_marker, read_snapshot
from knowledge.schema import Entry
from tests.editor_client import copy_index
from tests.test_console import PASSWORD, SECRETS, login, token
from travelbot.casework import CaseStore
from travelbot.gate import (
    ParseCache,
    Parser,
    decide,
    gate_parses_path,
    load_questions,
    rasa_parser,
    regression_files,
)
from travelbot.handoffs import HandoffStore
from travelbot.history import compare, version_diff
from travelbot.live_policy import LivePolicy
from travelbot.publications import Publication, PublicationStore
from travelbot.publisher import publish, restore_files
from travelbot.rollback import rollback, write_version
from travelbot.settings import ROOT, Settings, load_settings
from travelbot.users import UserStore

slow = pytest.mark.slow
EDITED = "smart-luggage"
EDITED_QUESTION = "can i bring smart luggage on a plane"
NEW_SENTENCE = "Ask your airline about smart bags on small planes."


def _edit(config: Settings, entry_id: str, change: Callable[[Dict[str, Any]], object]) -> Path:
    path = next(config.corpus_path().glob(f"*/{entry_id}.yml"))
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(raw)
    path.write_text(yaml.safe_dump(raw, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def _files(corpus_dir: Path) -> Dict[str, bytes]:
    return {
        str(p.relative_to(corpus_dir)): p.read_bytes() for p in sorted(corpus_dir.rglob("*")) if p.is_file()
    }


def _rows(config: Settings) -> List[Publication]:
    return PublicationStore(HandoffStore(config.storage.url()).engine).all()


def _live(config: Settings) -> int:
    marker = read_marker(config.index_path())
    assert marker is not None
    return marker.version


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the corpus, the index, its embedding cache and the gate's parses, and settings for them."""
    root = tmp_path_factory.mktemp("history")
    shutil.copytree(CORPUS_DIR, root / "knowledge" / "corpus")
    (root / "knowledge" / "regression").mkdir()
    copy_index(root)
    raw = yaml.safe_load((ROOT / "travelbot.yml").read_text(encoding="utf-8"))
    raw["storage"]["sqlite_path"] = str(root / "travelbot.db")
    raw.update(corpus_dir=str(root / "knowledge" / "corpus"), index_dir=str(root / "index"))
    raw["reload_check_ms"] = 0  # the LivePolicy below looks at the marker on every call
    (root / "travelbot.yml").write_text(yaml.safe_dump(raw), encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def config(workspace: Path) -> Settings:
    return load_settings(workspace / "travelbot.yml")


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return Embedder()


@pytest.fixture(scope="module")
def published(config: Settings, embedder: Embedder) -> Tuple[int, int]:
    """Two real publications: the unchanged copy (the baseline), then one edited answer."""
    build_at(
        config.index_path(), load_corpus(config.corpus_path()), embedder, cache_path(config.index_path())
    )
    first = publish(config, reason="baseline", embedder=embedder, author="test")
    assert first.ok and first.version == 1, first.lines
    _edit(
        config, EDITED, lambda raw: raw.update(answer=raw["answer"].rstrip() + "\n\n" + NEW_SENTENCE + "\n")
    )
    second = publish(config, reason="smart bags: small planes", embedder=embedder, author="editor1")
    assert second.ok and second.version == 2 and second.gate == "passed", second.lines
    return 1, 2


@pytest.fixture(scope="module")
def parse(config: Settings, published: Tuple[int, int]) -> Parser:
    """Rasa's readings of the regression questions (cached by the publications above)."""
    texts = [q.q for q in load_questions(regression_files(config.corpus_path()))]
    return ParseCache(gate_parses_path(config.index_path())).parser(texts, rasa_parser)


@pytest.fixture
def app(config: Settings, embedder: Embedder) -> Flask:
    engine = HandoffStore(config.storage.url()).engine
    users = UserStore(engine)
    existing = {user.name for user in users.listing()}
    for name, role in (("alice", "agent"), ("eve", "editor"), ("root", "admin")):
        if name not in existing:
            users.add(name, PASSWORD, role)
    app = create_app(config, SECRETS, users, CaseStore(engine), rasa_url="http://127.0.0.1:9")
    app.extensions["travelbot_embedder"] = embedder  # the model this process already loaded
    return app


@pytest.fixture
def client(app: Flask) -> Iterator[FlaskClient]:
    with app.test_client() as c:
        yield c


def test_compare_lists_added_removed_and_changed_fields() -> None:
    entries = load_corpus().entries
    gone, new, edited = entries[0], entries[1], entries[2]
    before = [e for e in entries if e.id != new.id]
    changed = edited.copy(update={"title": edited.title + " (new)", "phrasings": edited.phrasings[:-1]})
    after = [changed if e.id == edited.id else e for e in entries if e.id != gone.id]
    changes = compare(before, after)
    assert (changes.added, changes.removed) == ([new.id], [gone.id])
    assert [(c.entry_id, c.fields) for c in changes.changed] == [(edited.id, ["title", "phrasings"])]
    diff = changes.changed[0].diff
    assert diff.startswith(f"--- a/{KIND_FOLDERS[edited.kind.value]}/{edited.id}.yml\n")
    assert f"-title: {edited.title}\n" in diff and f"+title: {edited.title} (new)\n" in diff
    assert f"-  - {edited.phrasings[-1]}\n" in diff
    assert not compare(entries, entries)


def test_write_version_touches_only_what_differs_and_restore_puts_back_every_byte(tmp_path: Path) -> None:
    corpus_dir = tmp_path / "corpus"
    shutil.copytree(CORPUS_DIR, corpus_dir)
    entries = load_corpus(corpus_dir).entries
    items = [e for e in entries if e.kind.value == "item"]
    gone, edited = items[0], items[1]
    moved = next(e for e in entries if e.kind.value == "topic")  # becomes an item: its file moves
    (corpus_dir / "items" / "stray.yml").write_text("not: an entry\n", encoding="utf-8")
    before = _files(corpus_dir)
    changes: Dict[str, Dict[str, Any]] = {
        edited.id: {"answer_sms": edited.answer_sms + " Older."},
        moved.id: {"kind": "item", "carry_on": "allowed", "checked": "allowed"},
    }
    target = [Entry.parse_obj({**e.dict(), **changes.get(e.id, {})}) for e in entries if e.id != gone.id]
    saved = {p: p.read_bytes() for p in entry_files(corpus_dir)}

    touched = write_version(corpus_dir, target)
    assert sorted(p.relative_to(corpus_dir).as_posix() for p in touched) == sorted(
        [f"items/{gone.id}.yml", "items/stray.yml", f"items/{edited.id}.yml", f"items/{moved.id}.yml"]
    )
    assert not (corpus_dir / "topics" / f"{moved.id}.yml").exists()
    assert {e.id: e for e in (read_entry(p, corpus_dir) for p in entry_files(corpus_dir))} == {
        e.id: e for e in target
    }
    restore_files(corpus_dir, saved)
    assert _files(corpus_dir) == before


@slow
def test_diff_of_two_publications(config: Settings, published: Tuple[int, int]) -> None:
    first, second = published
    diff = version_diff(config.index_path(), second, config.corpus_path())
    assert diff.previous == first and diff.changes.added == diff.changes.removed == []
    [change] = diff.changes.changed
    assert change.entry_id == EDITED and change.fields == ["answer"]
    assert change.diff.startswith(f"--- a/items/{EDITED}.yml\n+++ b/items/{EDITED}.yml\n")
    assert f"+  {NEW_SENTENCE}\n" in change.diff
    # The diff is the one the file got: its changed lines are exactly those of the edited file's answer.
    added = [
        line[1:] for line in change.diff.splitlines() if line.startswith("+") and not line.startswith("+++")
    ]
    assert added == ["", f"  {NEW_SENTENCE}"]
    baseline = version_diff(config.index_path(), first, config.corpus_path())
    assert baseline.previous is None and baseline.entries == len(load_corpus(config.corpus_path()))


@slow
def test_cli_rollback_makes_the_old_text_live_as_a_new_version(
    config: Settings, published: Tuple[int, int], workspace: Path
) -> None:
    first, _ = published
    live = LivePolicy(config)  # as a running action server holds it
    before = _live(config)
    assert NEW_SENTENCE in live.current().kb.corpus[EDITED].answer
    old_answer = read_snapshot(config.index_path(), first, config.corpus_path())[EDITED].answer

    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "travelbot"),
            "rollback",
            str(first),
            "--reason",
            "note was wrong",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=dict(os.environ, TRAVELBOT_CONFIG=str(workspace / "travelbot.yml")),
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"published version {before + 1} (passed)" in done.stdout
    assert _live(config) == before + 1  # a new version: history is not rewritten
    last = _rows(config)[-1]
    assert (last.version, last.reason, last.gate) == (
        before + 1,
        f"rollback to version {first}: note was wrong",
        "passed",
    )

    path = config.corpus_path() / "items" / f"{EDITED}.yml"
    assert read_entry(path, config.corpus_path()).answer == old_answer  # the file holds the old text
    policy = live.current()  # the running process swapped without a restart
    assert live.version == before + 1 and policy.kb.corpus[EDITED].answer == old_answer
    outcome = policy.decide(EDITED_QUESTION)
    assert outcome.entry_id == EDITED
    [change] = version_diff(config.index_path(), before + 1, config.corpus_path()).changes.changed
    assert f"-  {NEW_SENTENCE}\n" in change.diff


@slow
def test_rollback_to_the_live_entries_publishes_nothing_and_keeps_unpublished_edits(
    config: Settings, embedder: Embedder, published: Tuple[int, int]
) -> None:
    live, rows = _live(config), len(_rows(config))
    path = _edit(config, EDITED, lambda raw: raw.update(answer_sms=raw["answer_sms"] + " Not yet published."))
    files = _files(config.corpus_path())
    result = rollback(config, live, "no-op", embedder=embedder, author="test")
    assert result.ok and result.version is None, result.lines
    assert result.lines == [
        f"nothing to publish: version {live} is these files",
        "the corpus files are as they were before the rollback",
    ]
    assert _files(config.corpus_path()) == files and len(_rows(config)) == rows and _live(config) == live
    assert not rollback(config, live + 100, "no such version", embedder=embedder).ok
    path.write_text(render_entry(read_snapshot(config.index_path(), live, config.corpus_path())[EDITED]))


def test_console_history_needs_the_editor_or_admin_role(client: FlaskClient, config: Settings) -> None:
    assert client.get("/history/").status_code == 302  # not signed in: to the login page
    login(client, "alice")
    assert "History</a>" not in client.get("/").get_data(as_text=True)
    assert client.get("/history/").status_code == 403
    assert client.get("/history/1").status_code == 403
    reply = client.post("/history/1/rollback", data={"csrf_token": token(client, "/"), "reason": "no"})
    assert reply.status_code == 403
    client.post("/logout", data={"csrf_token": token(client, "/")})
    login(client, "eve")
    assert "History</a>" in client.get("/").get_data(as_text=True)
    assert client.get("/history/").status_code == 200


def _breakable_question(policy: Policy, parse: Parser, config: Settings) -> Tuple[str, str, str]:
    """A regression question the live version answers right, and another entry with room for a phrasing."""
    for question in load_questions(regression_files(config.corpus_path())):
        if question.expect == "no_answer" or len(question.q.split()) < 6:
            continue
        result = decide(policy, parse(question.q))
        if result.decision == "answer" and result.entry_id in question.expect:
            thief = next(
                e.id for e in policy.kb.corpus if e.id not in question.expect and len(e.phrasings) < 8
            )
            return question.q, str(result.entry_id), thief
    pytest.fail("the live version answers no regression question correctly")


@slow
def test_console_rollback_refused_by_the_gate_leaves_the_files_and_an_admin_may_override(
    client: FlaskClient, config: Settings, embedder: Embedder, parse: Parser, workspace: Path
) -> None:
    marker = read_marker(config.index_path())
    assert marker is not None
    kb = load_published(config.index_path(), marker, config.corpus_path(), embedder)
    assert kb is not None
    question, owner, thief = _breakable_question(Policy(kb, config.retrieval), parse, config)
    saved = workspace / "knowledge" / "regression" / "saved.jsonl"
    saved.write_text(json.dumps({"q": question, "expect": [owner]}) + "\n", encoding="utf-8")
    # A bad version goes live (overridden), then a fix: rolling back to the bad one must be refused.
    thief_path = next(config.corpus_path().glob(f"*/{thief}.yml"))
    good = thief_path.read_bytes()
    _edit(config, thief, lambda raw: raw["phrasings"].append(question))
    bad = publish(config, reason="break", override="test", embedder=embedder, author="test")
    assert bad.ok and bad.gate == "overridden" and bad.version is not None, bad.lines
    thief_path.write_bytes(good)
    fixed = publish(config, reason="fix", embedder=embedder, author="test")
    assert fixed.ok and fixed.gate == "passed", fixed.lines
    # An editor's unpublished work in the files: an edit, and a new file.
    _edit(config, EDITED, lambda raw: raw.update(answer_sms=raw["answer_sms"] + " Unpublished."))
    (config.corpus_path() / "topics" / "draft-only.yml").write_text("id: draft-only\n", encoding="utf-8")
    files, rows, live = _files(config.corpus_path()), len(_rows(config)), read_marker(config.index_path())

    login(client, "eve")
    page = client.get(f"/history/{bad.version}").get_data(as_text=True)
    assert f"+  - {question}" in unescape(page) and 'name="override"' not in page  # the diff; no override
    form = {"csrf_token": token(client, f"/history/{bad.version}"), "reason": "undo the fix"}
    assert client.post(f"/history/{bad.version}/rollback", data={"reason": "no token"}).status_code == 400
    assert client.post(f"/history/{bad.version}/rollback", data={**form, "override": "x"}).status_code == 403
    reply = client.post(f"/history/{bad.version}/rollback", data=form)
    text = unescape(reply.get_data(as_text=True))
    assert reply.status_code == 409 and "REFUSED" in text and "fewer correct in-scope answers" in text
    assert f"saved.jsonl:1: {question!r}: answer {owner} -> " in text
    assert _files(config.corpus_path()) == files  # byte for byte, the unpublished work included
    assert len(_rows(config)) == rows and read_marker(config.index_path()) == live

    client.post("/logout", data={"csrf_token": token(client, "/")})
    login(client, "root")
    assert 'name="override"' in client.get(f"/history/{bad.version}").get_data(as_text=True)
    form = {
        "csrf_token": token(client, f"/history/{bad.version}"),
        "reason": "owner asked",
        "override": "ok'd",
    }
    reply = client.post(f"/history/{bad.version}/rollback", data=form)
    assert reply.status_code == 303, reply.get_data(as_text=True)[-3000:]
    last = _rows(config)[-1]
    assert (last.author, last.gate, last.override_reason) == ("root", "overridden", "ok'd")
    assert last.reason == f"rollback to version {bad.version}: owner asked" and _live(config) == last.version
    listing = unescape(client.get("/history/").get_data(as_text=True))
    assert re.search(rf">{last.version}</a> \(live\)", listing) and "rollback to version" in listing
