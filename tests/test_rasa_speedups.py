"""travelbot/rasa_speedups.py and the tracker store's prepared statements give what Rasa's own code gives."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import numpy as np
import pytest
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st
from rasa.core.channels.channel import UserMessage
from rasa.core.tracker_store import SQLTrackerStore
from rasa.engine import loader
from rasa.engine.runner.dask import DaskGraphRunner
from rasa.engine.runner.interface import GraphRunner
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.nlu.classifiers.logistic_regression_classifier import LogisticRegressionClassifier
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, Event, SessionStarted, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.training_data.message import Message
from rasa.utils.endpoints import EndpointConfig
from scipy import sparse

from bench.load import QUESTIONS
from travelbot import rasa_speedups
from travelbot.settings import ROOT
from travelbot.sqlite_tracker import SQLiteTrackerStore

MODEL = ROOT / "models" / "traveler.tar.gz"
PLACEHOLDER_MESSAGE, PLACEHOLDER_TRACKER = "__message__", "__tracker__"


def test_event_classes_are_found_as_rasa_finds_them() -> None:
    from rasa.shared.utils.common import all_subclasses

    for cls in all_subclasses(Event):
        assert rasa_speedups.resolve_event_type(cls.type_name) is rasa_speedups._rasa_resolve_by_type(
            cls.type_name
        )
    assert rasa_speedups.resolve_event_type("topic") is None
    assert rasa_speedups.resolve_event_type("no such event", BotUttered) is BotUttered
    with pytest.raises(ValueError, match="Unknown event name 'no such event'"):
        rasa_speedups.resolve_event_type("no such event")


def test_an_event_class_imported_later_is_found() -> None:
    class LateEvent(SlotSet):
        type_name = "late_event_for_test"

    assert rasa_speedups.resolve_event_type("late_event_for_test") is LateEvent


# -- the model graph -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def runners(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tuple[Any, GraphRunner, GraphRunner]]:
    if not MODEL.exists():
        pytest.fail(f"{MODEL} is missing: `make model` builds it (make test does)")
    loaded = []
    for cls in (DaskGraphRunner, rasa_speedups.SequentialGraphRunner):
        loaded.append(
            loader.load_predict_graph_runner(
                tmp_path_factory.mktemp(cls.__name__), MODEL, LocalModelStorage, cls
            )
        )
    (metadata, dask_runner), (_, ours) = loaded
    yield metadata, dask_runner, ours


def _parse(runner: GraphRunner, target: str, message: UserMessage) -> Dict[str, Any]:
    return dict(runner.run(inputs={PLACEHOLDER_MESSAGE: [message]}, targets=[target])[target][0].as_dict())


def test_the_sequential_runner_parses_every_message_as_dask_does(
    runners: Tuple[Any, GraphRunner, GraphRunner],
) -> None:
    metadata, dask_runner, ours = runners
    for text in [*QUESTIONS, '/choose{"entry_id":"lighters"}', ""]:
        message = UserMessage(text)
        theirs = _parse(dask_runner, metadata.nlu_target, message)
        assert _parse(ours, metadata.nlu_target, message) == theirs and theirs["intent"]["name"], text


def test_the_sequential_runner_predicts_the_next_action_as_dask_does(
    runners: Tuple[Any, GraphRunner, GraphRunner],
) -> None:
    metadata, dask_runner, ours = runners
    domain = metadata.domain
    tracker = DialogueStateTracker.from_events(
        "someone",
        [
            ActionExecuted("action_session_start"),
            SessionStarted(),
            ActionExecuted("action_listen"),
            UserUttered("can i bring a lighter", {"name": "ask_question", "confidence": 0.9}),
        ],
        domain.slots,
    )
    steps = []
    for _ in range(2):  # after the question: action_respond; after that: listen
        predictions = [
            runner.run(inputs={PLACEHOLDER_TRACKER: tracker}, targets=[metadata.core_target])[
                metadata.core_target
            ]
            for runner in (dask_runner, ours)
        ]
        assert predictions[0].probabilities == predictions[1].probabilities
        assert predictions[0].policy_name == predictions[1].policy_name
        action = domain.action_names_or_texts[int(np.argmax(predictions[1].probabilities))]
        steps.append(action)
        tracker.update(ActionExecuted(action))
    assert steps == ["action_respond", "action_listen"]


def test_the_classifier_input_row_is_rasas(runners: Tuple[Any, GraphRunner, GraphRunner]) -> None:
    metadata, dask_runner, _ = runners
    featurised: List[Message] = []
    for text in QUESTIONS[:6]:
        before_classifier = next(n for n in metadata.predict_schema.nodes if "CountVectorsFeaturizer2" in n)
        result = dask_runner.run(
            inputs={PLACEHOLDER_MESSAGE: [UserMessage(text)]}, targets=[before_classifier]
        )
        featurised.extend(result[before_classifier])
    classifier = LogisticRegressionClassifier.__new__(LogisticRegressionClassifier)
    for messages in ([featurised[0]], featurised):
        ours = rasa_speedups.create_x(classifier, messages)
        theirs = rasa_speedups._rasa_create_x(classifier, messages)
        assert ours.shape == theirs.shape and ours.shape[1] > 0
        assert (ours.toarray() == theirs.toarray()).all()


@given(
    widths=st.lists(st.integers(1, 40), min_size=1, max_size=4),
    density=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**16),
)
def test_one_row_blocks_side_by_side_are_scipys_hstack(widths: List[int], density: float, seed: int) -> None:
    blocks = [sparse.random(1, w, density=density, format="coo", random_state=seed + w) for w in widths]
    ours, theirs = rasa_speedups.side_by_side(blocks), sparse.hstack(blocks, format="csr")
    assert ours.shape == theirs.shape and ours.has_sorted_indices
    assert (ours.toarray() == theirs.toarray()).all()


def test_domain_emptiness_is_rasas() -> None:
    ours = Domain.load(ROOT / "bot" / "domain.yml")
    for domain in (ours, Domain.empty(), Domain.from_dict({})):
        assert rasa_speedups.domain_is_empty(domain) == (domain.as_dict() == Domain.empty().as_dict())
    assert not rasa_speedups.domain_is_empty(ours) and rasa_speedups.domain_is_empty(Domain.empty())


# -- one HTTP session per endpoint ---------------------------------------------------------------


def test_action_calls_share_one_kept_connection() -> None:
    """Three calls, one TCP connection; the answers as EndpointConfig.request returns them."""
    peers: List[Any] = []

    async def webhook(request: web.Request) -> web.Response:
        assert request.headers["Content-Type"] == "application/json"
        peers.append(request.transport.get_extra_info("peername") if request.transport else None)
        return web.json_response({"got": (await request.json())["n"]})

    async def run() -> List[Any]:
        app = web.Application()
        app.router.add_post("/webhook", webhook)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        endpoint = EndpointConfig(f"http://127.0.0.1:{port}/webhook")
        try:
            answers = [await endpoint.request(json={"n": n}) for n in range(3)]
            session = rasa_speedups.kept_session(endpoint).session
            assert rasa_speedups.kept_session(endpoint).session is session
            await session.close()
            assert rasa_speedups.kept_session(endpoint).session is not session  # a closed one is replaced
            answers.append(await endpoint.request(json={"n": 3}))
            await rasa_speedups.kept_session(endpoint).session.close()
            return answers
        finally:
            await runner.cleanup()

    original = EndpointConfig.session
    try:
        EndpointConfig.session = rasa_speedups.kept_session
        answers = asyncio.run(run())
    finally:
        EndpointConfig.session = original
    assert answers == [{"got": n} for n in range(4)]
    assert len(set(peers[:3])) == 1 and peers[3] != peers[0]


# -- the tracker store's statements --------------------------------------------------------------


def _two_sessions(sender: str) -> List[Event]:
    events: List[Event] = []
    for session, text in enumerate(("can i bring a lighter", "and matches?")):
        events += [
            ActionExecuted("action_session_start", timestamp=100.0 + 10 * session),
            SessionStarted(timestamp=100.0 + 10 * session),
            ActionExecuted("action_listen", timestamp=101.0 + 10 * session),
            UserUttered(text, {"name": "ask_question", "confidence": 0.9}, timestamp=102.0 + 10 * session),
            BotUttered("an answer", {"custom": {"decision": "answer"}}, timestamp=103.0 + 10 * session),
        ]
    return events


@pytest.mark.parametrize("with_session_start", [True, False])
def test_reads_and_saves_match_rasas_sql_store(tmp_path: Path, with_session_start: bool) -> None:
    """Ours and Rasa's SQLTrackerStore store the same rows and read back the same latest session."""
    domain = Domain.empty()
    events = _two_sessions("alice")
    if not with_session_start:
        events = [e for e in events if not isinstance(e, SessionStarted)]
    ours = SQLiteTrackerStore(domain, db=str(tmp_path / "ours.db"))
    rasas = SQLTrackerStore(domain, dialect="sqlite", db=str(tmp_path / "rasa.db"))

    async def run() -> List[List[Dict[str, Any]]]:
        read = []
        for store in (ours, rasas):
            tracker = DialogueStateTracker.from_events("alice", events[:4], domain.slots)
            await store.save(tracker)
            await store.save(tracker)  # nothing new: nothing stored twice
            again = DialogueStateTracker.from_events("alice", events, domain.slots)
            await store.save(again)
            latest = await store.retrieve("alice")
            assert latest is not None
            read.append([e.as_dict() for e in latest.events])
        return read

    mine, theirs = asyncio.run(run())
    assert mine == theirs and len(mine) == (5 if with_session_start else len(events))

    def rows(db: Path) -> List[Tuple[Any, ...]]:
        with sqlite3.connect(db) as conn:
            columns = "sender_id, type_name, timestamp, intent_name, action_name, data"
            return conn.execute(f"SELECT {columns} FROM events ORDER BY id").fetchall()

    assert rows(tmp_path / "ours.db") == rows(tmp_path / "rasa.db")
    assert len(rows(tmp_path / "ours.db")) == len(events)


def test_an_unknown_conversation_reads_as_none(tmp_path: Path) -> None:
    store = SQLiteTrackerStore(Domain.empty(), db=str(tmp_path / "tracker.db"))
    assert asyncio.run(store.retrieve("nobody")) is None
