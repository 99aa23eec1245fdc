"""Editors save real questions, with the answer they must get, into the publication gate's regression set."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.editor_client import copy_corpus, login, make_app, settings_for, token
from travelbot import audit
from travelbot.audit import AuditLog
from travelbot.gate import load_questions, regression_files
from travelbot.regression import NO_ANSWER, RegressionError, save_question, saved_path
from travelbot.settings import Settings


@pytest.fixture
def config(tmp_path: Path) -> Settings:
    copy_corpus(tmp_path)
    return settings_for(tmp_path)


def test_saved_questions_join_the_gate_and_a_second_save_replaces_the_first(config: Settings) -> None:
    corpus, index = config.corpus_path(), config.index_path()
    first = save_question(corpus, index, "can i bring  my [phone] charger?", ("phone-chargers",), "eve")
    assert not first.updated and first.question == "can i bring my [phone] charger?"
    save_question(corpus, index, "is a tent ok", NO_ANSWER, "eve")
    again = save_question(corpus, index, "Can I bring my [phone] charger?", NO_ANSWER, "root")
    assert again.updated
    lines = [json.loads(line) for line in saved_path(corpus).read_text().splitlines()]
    assert [(row["q"], row["expect"], row["saved_by"]) for row in lines] == [
        ("is a tent ok", NO_ANSWER, "eve"),
        ("Can I bring my [phone] charger?", NO_ANSWER, "root"),
    ]
    gate_questions = load_questions(regression_files(corpus))
    assert ("is a tent ok", NO_ANSWER) in [(q.q, q.expect) for q in gate_questions]


@pytest.mark.parametrize("question, expect", [("", NO_ANSWER), ("x" * 501, NO_ANSWER), ("ok?", ())])
def test_bad_questions_are_refused(config: Settings, question: str, expect: tuple) -> None:
    with pytest.raises(RegressionError):
        save_question(config.corpus_path(), config.index_path(), question, expect, "eve")
    assert not saved_path(config.corpus_path()).exists()


def test_console_saves_for_editors_only_and_audits(config: Settings) -> None:
    app = make_app(config)
    editor = app.test_client()
    login(editor, "eve")
    form = {
        "question": "can i take a tent pole",
        "expect": "tent-poles",
        "csrf_token": token(editor, "/editor/"),
    }
    assert editor.post("/review/regression", data=form).status_code == 303
    assert editor.post("/review/regression", data={**form, "expect": "no-such-entry"}).status_code == 400
    assert editor.post("/review/regression", data={**form, "csrf_token": "forged"}).status_code == 400
    rows = saved_path(config.corpus_path()).read_text().splitlines()
    assert [json.loads(r)["expect"] for r in rows] == [["tent-poles"]]
    engine = sa.create_engine(config.storage.url())
    assert [e.action for e in AuditLog(engine).recent(10)][:1] == [audit.QUESTION_SAVED]

    agent = app.test_client()
    login(agent, "alice")
    refused = agent.post("/review/regression", data={**form, "csrf_token": token(agent, "/")})
    assert refused.status_code == 403
