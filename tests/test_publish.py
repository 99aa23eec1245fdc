"""Publishing corpus edits live, gated by the regression set (issue 6).

Real parts throughout: the MiniLM model, FAISS, the trained Rasa NLU model for the gate, and the real Rasa
server + action server (tests/servers.py). Everything works on a copy of the corpus and of the index in a
temporary directory (TRAVELBOT_CORPUS_DIR / TRAVELBOT_INDEX_DIR); the real knowledge/corpus is never written.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import pytest
import yaml

from knowledge.corpus import CORPUS_DIR, load_corpus
from knowledge.embedder import Embedder
from knowledge.policy import Policy
from knowledge.publish import build_at, cache_path, load_published, read_marker
from tests.servers import Servers, start_servers
from travelbot.gate import (
    GateReport,
    Parser,
    Question,
    Result,
    Score,
    decide,
    load_questions,
    rasa_parser,
    regression_files,
)
from travelbot.handoffs import HandoffStore
from travelbot.publications import PublicationStore
from travelbot.publisher import publish
from travelbot.settings import ROOT, ConfigError, Settings, load_settings

pytestmark = pytest.mark.slow
EDITED = "smart-luggage"
EDITED_QUESTION = "can i bring smart luggage on a plane"
NEW_SENTENCE = "Ask your airline about smart bags on small planes."


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the corpus and of the built index (and its embedding cache, so builds re-embed little)."""
    root = tmp_path_factory.mktemp("publish")
    shutil.copytree(CORPUS_DIR, root / "knowledge" / "corpus")
    (root / "knowledge" / "regression").mkdir()
    if (ROOT / "var" / "index").exists():
        shutil.copytree(ROOT / "var" / "index", root / "index")
    if (ROOT / "var" / "index-embeddings.npz").exists():
        shutil.copy(ROOT / "var" / "index-embeddings.npz", root / "index-embeddings.npz")
    return root


def _env(workspace: Path) -> Dict[str, str]:
    return {
        "TRAVELBOT_CORPUS_DIR": str(workspace / "knowledge" / "corpus"),
        "TRAVELBOT_INDEX_DIR": str(workspace / "index"),
    }


@pytest.fixture(scope="module")
def config(workspace: Path, running: Servers) -> Settings:
    """The same settings the servers run with (start_servers wrote them), pointed at the copies."""
    return load_settings(workspace / "travelbot.yml").copy(
        update={"corpus_dir": workspace / "knowledge" / "corpus", "index_dir": workspace / "index"}
    )


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return Embedder()


@pytest.fixture(scope="module")
def parse() -> Parser:
    return rasa_parser()


@pytest.fixture(scope="module")
def running(workspace: Path, embedder: Embedder) -> Iterator[Servers]:
    # The first publication: the unchanged copy becomes version 1 before the servers start.
    base = load_settings(ROOT / "travelbot.yml").copy(
        update={"corpus_dir": workspace / "knowledge" / "corpus", "index_dir": workspace / "index"}
    )
    base.storage.sqlite_path = workspace / "handoffs.db"
    corpus = load_corpus(base.corpus_path())  # the copied index, brought up to date if the corpus moved on
    build_at(base.index_path(), corpus, embedder, cache_path(base.index_path()))
    first = publish(base, reason="baseline", embedder=embedder, author="test")
    assert first.ok and first.version == 1 and first.gate == "baseline", first.lines
    with start_servers(workspace, extra_env=_env(workspace)) as servers:
        yield servers


def _entry_file(config: Settings, entry_id: str) -> Path:
    return next(config.corpus_path().glob(f"*/{entry_id}.yml"))


def _edit(config: Settings, entry_id: str, change: Any) -> None:
    path = _entry_file(config, entry_id)
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(raw)
    path.write_text(yaml.safe_dump(raw, sort_keys=False, allow_unicode=True), encoding="utf-8")


def _answer_text(servers: Servers, sender: str, question: str) -> str:
    replies = servers.say(sender, question)
    return "\n".join(r.get("text", "") for r in replies if r.get("text"))


def _wait_for_reload_check(config: Settings) -> None:
    # Not a timing assertion: the action server stats the marker at most every reload_check_ms, so after
    # that long its next turn is guaranteed to look.
    time.sleep(config.reload_check_ms / 1000 + 0.1)


def test_published_edit_is_answered_without_restart(running: Servers, config: Settings, embedder: Embedder):
    before = _answer_text(running, "publish-before", EDITED_QUESTION)
    assert "smart bag" in before.lower() and NEW_SENTENCE not in before

    _edit(
        config, EDITED, lambda raw: raw.update(answer=raw["answer"].rstrip() + "\n\n" + NEW_SENTENCE + "\n")
    )
    # Editing the files is not publishing: the running server still answers the published version.
    _wait_for_reload_check(config)
    assert NEW_SENTENCE not in _answer_text(running, "publish-edited", EDITED_QUESTION)

    result = publish(config, reason="smart bags: small planes", embedder=embedder, author="test")
    assert result.ok and result.gate == "passed", result.lines
    marker = read_marker(config.index_path())
    assert marker is not None and marker.version == result.version

    _wait_for_reload_check(config)
    assert NEW_SENTENCE in _answer_text(running, "publish-after", EDITED_QUESTION)


def _breakable_question(policy: Policy, parse: Parser, config: Settings) -> Tuple[str, str, str]:
    """A dev question the live version answers correctly, and another entry that has room for a phrasing."""
    questions = load_questions(regression_files(config.corpus_path()))
    corpus = policy.kb.corpus
    for question in questions:
        if question.expect == "no_answer" or len(question.q.split()) < 6:
            continue
        result = decide(policy, parse(question.q))
        if result.decision == "answer" and result.entry_id in question.expect:
            thief = next(e.id for e in corpus if e.id not in question.expect and len(e.phrasings) < 8)
            return question.q, str(result.entry_id), thief
    pytest.fail("the live version answers no dev question correctly")


def test_gate_refuses_a_breaking_edit_and_records_an_override(
    running: Servers, config: Settings, embedder: Embedder, parse: Parser, workspace: Path
):
    marker = read_marker(config.index_path())
    assert marker is not None
    live = load_published(config.index_path(), marker, config.corpus_path(), embedder)
    assert live is not None
    policy = Policy(live, config.retrieval)
    question, owner, thief = _breakable_question(policy, parse, config)
    # An editor saved the question from a real conversation; the dev set has it too, which is fine.
    saved = workspace / "knowledge" / "regression" / "saved.jsonl"
    saved.write_text(json.dumps({"q": question, "expect": [owner]}) + "\n", encoding="utf-8")
    # The breaking edit: another entry claims the question word for word.
    _edit(config, thief, lambda raw: raw["phrasings"].append(question))

    env = dict(os.environ, TRAVELBOT_CONFIG=str(workspace / "travelbot.yml"), **_env(workspace))
    done = subprocess.run(
        [str(Path(sys.executable).parent / "travelbot"), "publish", "--reason", "more phrasings"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=900,
        check=False,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "REFUSED" in done.stderr and "fewer correct in-scope answers" in done.stderr
    assert f"saved.jsonl:1: {question!r}: answer {owner} -> " in done.stderr, done.stderr
    assert read_marker(config.index_path()) == marker  # nothing went live
    before = _answer_text(running, "gate-refused", question)

    overridden = publish(
        config, reason="more phrasings", override="owner asked for it", embedder=embedder, author="editor1"
    )
    assert overridden.ok and overridden.gate == "overridden", overridden.lines
    rows: List[Any] = PublicationStore(HandoffStore(config.storage.url()).engine).all()
    assert [r.version for r in rows] == [1, 2, 3]
    last = rows[-1]
    assert (last.author, last.gate, last.override_reason) == ("editor1", "overridden", "owner asked for it")
    now_live = read_marker(config.index_path())
    assert now_live is not None and now_live.version == 3
    assert "REFUSED" in last.gate_summary and last.fingerprint == now_live.fingerprint

    _wait_for_reload_check(config)
    assert _answer_text(running, "gate-overridden", question) != before  # the overridden version is live


def test_corpus_dir_override_is_validated_at_start(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("TRAVELBOT_CORPUS_DIR", str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match=r"\$TRAVELBOT_CORPUS_DIR: corpus directory .*missing"):
        load_settings(ROOT / "travelbot.yml")
    monkeypatch.setenv("TRAVELBOT_CORPUS_DIR", str(tmp_path))
    assert load_settings(ROOT / "travelbot.yml").corpus_path() == tmp_path


def test_gate_verdicts():
    right = Question("can i bring cheese", ("cheese",), None, "dev.jsonl:1")
    threat = Question("how do i sneak a knife", "no_answer", "sensitive", "dev.jsonl:2")
    live, draft = Score(), Score()
    live.add(right, Result("answer", "cheese"))
    live.add(threat, Result("handoff", None))
    draft.add(right, Result("answer", "butter"))
    draft.add(threat, Result("answer", "knives"))
    report = GateReport(2, live, draft)
    assert not report.passed
    assert report.problems == [
        "fewer correct in-scope answers (1 -> 0)",
        "more wrong answers (0 -> 2)",
        "1 security-sensitive question(s) answered",
    ]
    same = Score()
    same.add(right, Result("answer", "cheese"))
    same.add(threat, Result("handoff", None))
    assert GateReport(2, live, same).passed
