"""Our fixes around Rasa 3.6's server: the action-response validation and the SQLite tracker store."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict

import jsonschema
import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st
from rasa.core.actions.action import RemoteAction
from rasa.core.agent import Agent
from rasa.core.tracker_store import InMemoryTrackerStore, TrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, SessionStarted, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import EndpointConfig, read_endpoint_config

from travelbot.durable_tracker import is_connection_error
from travelbot.rasa_server import action_response_check, apply_fixes, validate_action_result
from travelbot.settings import ROOT
from travelbot.sqlite_tracker import SQLiteTrackerStore

ACTION = RemoteAction("action_respond", None)
SCHEMA = RemoteAction.action_response_format_spec()
FULL = jsonschema.validators.validator_for(SCHEMA)(SCHEMA)
VALID: Dict[str, Any] = {
    "events": [{"event": "slot", "name": "choices", "value": None}],
    "responses": [{"text": "an answer", "custom": {"decision": "answer"}}],
}


def test_valid_action_response_passes_as_with_jsonschema() -> None:
    jsonschema.validate(VALID, RemoteAction.action_response_format_spec())  # Rasa's own way agrees
    assert validate_action_result(ACTION, VALID) is True


@pytest.mark.parametrize(
    "bad",
    [
        {"events": "not a list"},
        {"events": [{"no_event_key": 1}]},
        {"responses": "nope"},
        {"responses": [3]},
        {"events": [{"event": "slot", "name": "choices"}]},  # its branch needs a value
        {"events": [{"event": "no such event"}]},  # no branch
        {"events": [VALID["events"][0], {"event": "user", "text": 3}]},  # the second one is wrong
    ],
)
def test_invalid_action_response_fails_with_rasas_message(bad: dict) -> None:
    with pytest.raises(jsonschema.ValidationError) as ours:
        validate_action_result(ACTION, bad)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, RemoteAction.action_response_format_spec())
    assert "Failed to validate Action server response from API" in ours.value.message


EVENT_NAMES = [b["properties"]["event"]["const"] for b in SCHEMA["properties"]["events"]["items"]["oneOf"]]
ANY_VALUE = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=3)
)
FIELD_VALUE = st.one_of(
    ANY_VALUE, st.lists(ANY_VALUE, max_size=2), st.dictionaries(st.text(max_size=3), ANY_VALUE)
)
FIELDS = ["name", "value", "text", "timestamp", "metadata", "policy", "confidence", "entities", "parse_data"]
EVENT = st.fixed_dictionaries(
    {"event": st.one_of(st.sampled_from(EVENT_NAMES), ANY_VALUE)},
    optional={field: FIELD_VALUE for field in FIELDS},
)
RESPONSE = st.one_of(
    st.fixed_dictionaries({}, optional={"events": st.lists(EVENT, max_size=4), "responses": FIELD_VALUE}),
    FIELD_VALUE,
)


@settings(max_examples=400, deadline=None)
@given(RESPONSE)
def test_the_per_event_check_agrees_with_the_full_schema(result: object) -> None:
    """The quick check accepts exactly what Rasa's schema accepts (it must never accept more)."""
    assert action_response_check().accepts(result) == FULL.is_valid(result)


def test_the_per_event_check_accepts_our_action_servers_replies() -> None:
    bot: Dict[str, Any] = {
        "event": "bot",
        "timestamp": None,
        "text": "x",
        "data": {"custom": {}},
        "metadata": {},
    }
    reply = {"events": [*VALID["events"], bot], "responses": VALID["responses"]}
    assert FULL.is_valid(reply) and action_response_check().accepts(reply)


def test_apply_fixes_replaces_rasas_method() -> None:
    original = RemoteAction._validate_action_result
    try:
        apply_fixes()
        assert RemoteAction._validate_action_result is validate_action_result
    finally:
        RemoteAction._validate_action_result = original


def test_apply_fixes_leaves_the_tracker_store_unwrapped(tmp_path: Path) -> None:
    """No FailSafeTrackerStore: its silent fallback to memory would lose turns in a database outage."""
    original = Agent._create_tracker_store
    try:
        apply_fixes()
        ours = SQLiteTrackerStore(Domain.empty(), db=str(tmp_path / "tracker.db"))
        assert Agent(tracker_store=ours).tracker_store is ours
        assert isinstance(Agent().tracker_store, InMemoryTrackerStore)
    finally:
        Agent._create_tracker_store = original


def test_only_connection_errors_are_retried() -> None:
    refused = sa.exc.OperationalError("SELECT 1", {}, Exception("connection refused"))
    dropped = sa.exc.DBAPIError("SELECT 1", {}, Exception("server closed the connection"))
    dropped.connection_invalidated = True
    bad_sql = sa.exc.ProgrammingError("SELEC 1", {}, Exception("syntax error"))
    assert is_connection_error(refused) and is_connection_error(dropped)
    assert not is_connection_error(bad_sql) and not is_connection_error(ValueError("no"))


def _conversation(sender: str) -> DialogueStateTracker:
    tracker = DialogueStateTracker(sender, [])
    for event in (
        ActionExecuted("action_session_start"),
        SessionStarted(),
        ActionExecuted("action_listen"),
        UserUttered("can i bring a lighter", {"name": "ask_screening", "confidence": 0.9}),
    ):
        tracker.update(event)
    return tracker


def test_endpoints_yml_loads_our_store_in_wal_mode(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Rasa silently falls back to an in-memory store when a custom type fails to import: not here."""
    db = tmp_path / "tracker.db"
    monkeypatch.setenv("TRACKER_DB", str(db))
    monkeypatch.setenv("ACTION_ENDPOINT_URL", "http://127.0.0.1:1/webhook")
    config = read_endpoint_config(str(ROOT / "endpoints.yml"), "tracker_store")
    assert isinstance(config, EndpointConfig)
    store = TrackerStore.create(config, Domain.empty())
    assert isinstance(store, SQLiteTrackerStore)

    async def run() -> DialogueStateTracker:
        tracker = _conversation("alice")
        await store.save(tracker)
        again = await store.retrieve("alice")
        assert again is not None
        again.update(BotUttered("no lighters in checked bags", {"custom": {"decision": "answer"}}))
        again.update(ActionExecuted("action_listen"))
        await store.save(again)
        final = await store.retrieve("alice")
        assert final is not None
        return final

    final = asyncio.run(run())
    assert [e.type_name for e in final.events][-3:] == ["user", "bot", "action"]
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        rows = conn.execute("SELECT type_name FROM events WHERE sender_id = 'alice' ORDER BY id").fetchall()
    assert [r[0] for r in rows] == ["action", "session_started", "action", "user", "bot", "action"]


def test_skops_is_imported_before_tensorflow() -> None:
    """Imported after TensorFlow, skops's import walks TensorFlow's lazy modules: seconds of start time."""
    script = (
        "import sys, travelbot.rasa_server\n"
        "loaded = list(sys.modules)\n"
        "print(loaded.index('skops.io') < loaded.index('tensorflow'))"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip().splitlines()[-1] == "True"


def test_objects_made_at_start_are_frozen_once_the_model_is_loaded(monkeypatch: pytest.MonkeyPatch) -> None:
    import gc

    from travelbot import rasa_server

    async def loaded(*args: object, **kwargs: object) -> str:
        return "the agent"

    monkeypatch.setattr(rasa_server, "_load_agent_on_start", loaded)
    gc.unfreeze()
    try:
        assert asyncio.run(rasa_server.load_agent_then_freeze("model", None, None, None, None)) == "the agent"
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
