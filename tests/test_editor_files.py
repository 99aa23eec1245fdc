"""Entry files written back in the hand-written style, drafts over the corpus files, and the audit log.

Real files (a copy of the corpus in a temporary directory) and a real SQLite database.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

from knowledge.corpus import CORPUS_DIR, entry_files, load_corpus, read_entry
from knowledge.entry_files import entry_path, remove_entry, render_entry, write_entry
from knowledge.schema import Entry
from tests.editor_client import EDITED, copy_corpus, settings_for
from travelbot import audit
from travelbot.audit import AuditLog
from travelbot.drafts import DraftStore
from travelbot.handoffs import HandoffStore
from travelbot.publisher import restore_files, snapshot_files
from travelbot.settings import Settings


@pytest.fixture
def root(tmp_path: Path) -> Path:
    copy_corpus(tmp_path)
    return tmp_path


@pytest.fixture
def config(root: Path) -> Settings:
    return settings_for(root)


@pytest.fixture
def engine(config: Settings) -> sa.engine.Engine:
    return HandoffStore(config.storage.url()).engine


def test_writing_back_every_entry_file_gives_identical_bytes(tmp_path: Path) -> None:
    corpus_dir = copy_corpus(tmp_path)
    paths = entry_files(corpus_dir)
    assert len(paths) > 500
    for path in paths:
        before = path.read_bytes()
        written = write_entry(corpus_dir, read_entry(path, corpus_dir))
        assert written == path
        assert path.read_bytes() == before, path.name
    assert sorted(p.name for p in corpus_dir.rglob("*") if p.is_file()) == sorted(
        p.name for p in CORPUS_DIR.rglob("*") if p.is_file()
    )  # no temporary file left behind


def test_an_edit_is_a_small_diff_and_loads_back(tmp_path: Path) -> None:
    corpus_dir = copy_corpus(tmp_path)
    path = corpus_dir / "items" / f"{EDITED}.yml"
    entry = read_entry(path, corpus_dir)
    before = path.read_text(encoding="utf-8").splitlines()
    edited = entry.copy(
        update={"answer": entry.answer + "\n\nNew line here.", "phrasings": [*entry.phrasings, "is brie ok?"]}
    )
    write_entry(corpus_dir, edited)
    after = path.read_text(encoding="utf-8").splitlines()
    assert [line for line in after if line not in before] == ["  - is brie ok?", "  New line here."]
    assert len(after) - len(before) == 3  # the phrasing, a blank line and the sentence
    assert read_entry(path, corpus_dir) == edited


def test_new_entry_kind_change_and_removal(tmp_path: Path) -> None:
    corpus_dir = copy_corpus(tmp_path)
    topic = read_entry(corpus_dir / "topics" / "acceptable-id.yml", corpus_dir)
    new = topic.copy(
        update={"id": "lost-boarding-pass", "title": "Lost boarding pass", "aliases": ["lost pass"]}
    )
    path = write_entry(corpus_dir, new)
    assert path == entry_path(corpus_dir, new) == corpus_dir / "topics" / "lost-boarding-pass.yml"
    text = path.read_text(encoding="utf-8")
    assert text.startswith("id: lost-boarding-pass\nkind: topic\ntitle: Lost boarding pass\nphrasings:\n  - ")
    assert "\nanswer: |\n  If you are 18" in text and '\nanswer_sms: "' in text
    assert read_entry(path, corpus_dir) == new
    # A render without the old file still loads back as the same entry, quoting where YAML needs it.
    tricky = new.copy(update={"phrasings": ["yes", "123", "a: b", "#tag", "what's allowed?"]})
    assert Entry.parse_obj(yaml.safe_load(render_entry(tricky))) == tricky

    item = read_entry(corpus_dir / "items" / f"{EDITED}.yml", corpus_dir)
    moved = item.copy(update={"kind": "topic", "carry_on": None, "checked": None})
    assert write_entry(corpus_dir, Entry.parse_obj(moved.dict())) == corpus_dir / "topics" / f"{EDITED}.yml"
    assert not (corpus_dir / "items" / f"{EDITED}.yml").exists()

    assert remove_entry(corpus_dir, "lost-boarding-pass") == path and not path.exists()
    with pytest.raises(FileNotFoundError):
        remove_entry(corpus_dir, "lost-boarding-pass")


# --- drafts and audit ----------------------------------------------------------------------------


def test_drafts_apply_to_the_files_and_restore_exactly(config: Settings, engine: sa.engine.Engine) -> None:
    corpus_dir = config.corpus_path()
    store = DraftStore(engine)
    edited_path = corpus_dir / "items" / f"{EDITED}.yml"
    entry = read_entry(edited_path, corpus_dir)
    originals = {p: p.read_bytes() for p in entry_files(corpus_dir)}
    store.save(entry.copy(update={"title": "Cream cheese and spreads"}), "eve")
    first = store.get(EDITED)
    store.save(entry.copy(update={"title": "Creamy cheeses"}), "root")  # replaces, one draft per entry
    store.retire("food", "eve")
    new = entry.copy(update={"id": "cheese-curds", "title": "Cheese curds", "aliases": ["curds"]})
    store.save(new, "eve")
    drafts = store.all()
    assert [d.entry_id for d in drafts] == ["cheese-creamy", "cheese-curds", "food"]
    assert drafts[0].author == "root" and first is not None and drafts[0].revision != first.revision
    assert drafts[2].retires and drafts[2].entry is None

    overlay = store.overlay(load_corpus(corpus_dir))
    assert overlay[EDITED].title == "Creamy cheeses" and "food" not in overlay and "cheese-curds" in overlay

    saved = snapshot_files(corpus_dir)
    applied = store.apply(corpus_dir)
    assert [d.entry_id for d in applied] == ["cheese-creamy", "cheese-curds", "food"]
    assert read_entry(edited_path, corpus_dir).title == "Creamy cheeses"
    assert not (corpus_dir / "topics" / "food.yml").exists()
    assert (corpus_dir / "items" / "cheese-curds.yml").exists()
    restore_files(corpus_dir, saved)
    assert {p: p.read_bytes() for p in entry_files(corpus_dir)} == originals
    assert len(store.all()) == 3  # applying never consumes drafts

    store.save(entry.copy(update={"title": "Newer"}), "eve")  # saved while the old one was publishing
    store.discard_published(drafts)
    assert [d.entry_id for d in store.all()] == [EDITED]
    assert store.discard(EDITED) and not store.discard(EDITED) and store.all() == []


def test_audit_log_records_and_filters(engine: sa.engine.Engine) -> None:
    log = AuditLog(engine)
    log.record("eve", audit.DRAFT_SAVED, EDITED, {"change": "edit"})
    log.record("root", audit.PUBLISHED, "", {"version": 2})
    log.record("eve", audit.DRAFT_DISCARDED, EDITED)
    assert [e.action for e in log.recent(10)] == [audit.DRAFT_DISCARDED, audit.PUBLISHED, audit.DRAFT_SAVED]
    eve = log.recent(10, actor="eve")
    assert [e.action for e in eve] == [audit.DRAFT_DISCARDED, audit.DRAFT_SAVED]
    assert eve[1].detail == {"change": "edit"} and eve[1].at is not None
    assert len(log.recent(1)) == 1
