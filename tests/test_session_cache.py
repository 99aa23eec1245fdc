"""travelbot/session_cache.py: reading only new rows gives what Rasa's SQL store reads in full.

Two of our stores share one SQLite file, as two Rasa instances share one database in the scaled mode;
after every step each of them must read back exactly what Rasa's own ``SQLTrackerStore`` reads from the
same file. Hypothesis chooses the steps: turns saved by either instance, new sessions (also with a
timestamp earlier than rows already stored, as another instance's clock may give), and rows deleted
behind the stores' backs.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any, Dict, List

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    BotUttered,
    EntitiesAdded,
    Event,
    SessionStarted,
    SlotSet,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker

from travelbot.session_cache import LatestSessionCache
from travelbot.sqlite_tracker import SQLiteTrackerStore

SENDERS = ("alice", "bob")
DOMAIN = Domain.from_dict({"slots": {"handoff": {"type": "any", "mappings": [{"type": "custom"}]}}})

step = st.one_of(
    st.tuples(st.just("turn"), st.sampled_from(SENDERS), st.integers(0, 1), st.text(max_size=12)),
    st.tuples(st.just("session"), st.sampled_from(SENDERS), st.integers(0, 1), st.floats(-5.0, 5.0)),
    st.tuples(st.just("delete"), st.sampled_from(SENDERS), st.integers(0, 1), st.integers(0, 3)),
)


def _turn(text: str, at: float) -> List[Event]:
    return [
        ActionExecuted("action_listen", timestamp=at),
        UserUttered(text, {"name": "ask_question", "confidence": 0.9}, timestamp=at + 0.1),
        EntitiesAdded([{"entity": "item", "value": text}], timestamp=at + 0.15),  # changes the user event
        SlotSet("handoff", {"asked": text}, timestamp=at + 0.2),
        BotUttered("an answer", {"custom": {"decision": "answer"}}, timestamp=at + 0.3),
    ]


def _session(at: float) -> List[Event]:
    return [ActionExecuted("action_session_start", timestamp=at), SessionStarted(timestamp=at)]


def _read(store: Any, sender: str) -> List[Dict[str, Any]]:
    tracker = asyncio.run(store.retrieve(sender))
    return [] if tracker is None else [event.as_dict() for event in tracker.events]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(step, max_size=25))
def test_every_read_matches_rasas_full_read(tmp_path_factory: Any, steps: List[Any]) -> None:
    db = tmp_path_factory.mktemp("cache") / "tracker.db"
    instances = [SQLiteTrackerStore(DOMAIN, db=str(db)) for _ in range(2)]
    rasas = SQLTrackerStore(DOMAIN, dialect="sqlite", db=str(db))
    clock = 1000.0
    for kind, sender, which, value in steps:
        store = instances[which]
        tracker = asyncio.run(store.retrieve(sender)) or DialogueStateTracker(sender, DOMAIN.slots)
        clock += 1.0
        if kind == "turn":
            new = _turn(value, clock)
        elif kind == "session":
            new = _session(clock + value)  # value < 0: a clock behind rows already stored
        else:
            with sqlite3.connect(db) as conn:  # the newest rows of the conversation, or all of them
                conn.execute(
                    "DELETE FROM events WHERE id IN (SELECT id FROM events WHERE sender_id = ? "
                    "ORDER BY id DESC LIMIT ?)",
                    (sender, value or -1),
                )
            new = []
        for event in new:
            tracker.update(event)
        asyncio.run(store.save(tracker))
        for name in SENDERS:
            expected = _read(rasas, name)
            assert [_read(instance, name) for instance in instances] == [expected, expected]
    for store in (*instances, rasas):
        store.engine.dispose()


def test_the_least_recently_read_conversations_are_dropped_first(tmp_path: Path) -> None:
    store = SQLiteTrackerStore(DOMAIN, db=str(tmp_path / "tracker.db"))
    store._sessions = cache = LatestSessionCache(store.SQLEvent.__table__, max_events=10)  # two of 5 events
    for sender in ("a", "b", "c"):
        asyncio.run(store.save(DialogueStateTracker.from_events(sender, _turn(sender, 1.0), DOMAIN.slots)))
        asyncio.run(store.retrieve(sender))
    asyncio.run(store.retrieve("b"))
    assert list(cache._sessions) == ["c", "b"]
    assert [len(_read(store, sender)) for sender in ("a", "b", "c", "nobody")] == [5, 5, 5, 0]
    assert list(cache._sessions) == ["b", "c"] and cache._kept_events == 10
