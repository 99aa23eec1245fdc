"""The scaled mode: two Rasa servers and two action servers sharing PostgreSQL and the Redis lock.

Everything is real: PostgreSQL and Redis on this machine (a fresh database per run, dropped after),
the trained model, the action servers with MiniLM + FAISS. Where the services cannot be reached the
tests skip on a developer's machine and FAIL under CI (CI=true), so CI never passes without them.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

import pytest
import redis
import sqlalchemy as sa
import yaml
from rasa.utils.endpoints import EndpointConfig

from tests.postgres import admin_engine, fresh_database, skip_or_fail
from tests.servers import Servers, free_port, start_servers
from travelbot import launch, services
from travelbot.handoffs import HandoffStore, metadata
from travelbot.redis_lock import AtomicRedisLockStore
from travelbot.settings import ROOT, ConfigError, Settings

PERSON = "i want to talk to a real person"
# Questions the corpus answers outright, with the entry each must be answered from.
ANSWERS: List[Tuple[str, str]] = [
    ("can i put my power bank in checked luggage?", "power-banks"),
    ("can i bring scissors in my carry-on", "scissors"),
    ("are baby wipes allowed", "baby-wipes"),
    ("can i take a baseball bat on the plane", "baseball-bats"),
    ("can i bring binoculars", "binoculars"),
    ("is bear spray allowed", "bear-spray"),
    ("can i pack a bicycle pump", "bicycle-pumps"),
    ("can i carry baby formula", "baby-formula"),
    ("can i bring an axe", "axes-and-hatchets"),
    ("can i bring antlers", "antlers"),
    ("can i bring a laptop", "laptops"),
]
CONVERSATIONS = 20


def _require_services() -> None:
    """Skip without PostgreSQL/Redis, except under CI, where their absence is a failure."""
    try:
        with admin_engine().connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        services.check_redis(services.redis_target(os.environ))
    except (sa.exc.DBAPIError, services.ServiceError) as exc:
        skip_or_fail("scaled-mode tests", exc)


@pytest.fixture(scope="module")
def database_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this run, dropped afterwards."""
    _require_services()
    with fresh_database("travelbot_test", "scaled-mode tests") as url:
        yield url


@pytest.fixture(scope="module")
def redis_prefix() -> Iterator[str]:
    """A key prefix of this run's own, so its locks never meet another run's; its keys removed after."""
    _require_services()
    prefix = f"test{uuid.uuid4().hex[:10]}"
    yield prefix
    target = services.redis_target(os.environ)
    client = redis.Redis(host=target.host, port=target.port, db=target.db, password=target.password or None)
    for key in client.scan_iter(f"{prefix}:*"):
        client.delete(key)
    client.close()


@pytest.fixture(scope="module")
def two_instances(
    tmp_path_factory: pytest.TempPathFactory, database_url: str, redis_prefix: str
) -> Iterator[List[Servers]]:
    """Two Rasa servers, each with its own action server, sharing one database and one Redis lock."""
    env = {"TRAVELBOT_DATABASE_URL": database_url, services.REDIS_PREFIX_ENV: redis_prefix}
    config = Settings.parse_obj({"storage": {"backend": "postgresql"}})
    services.check_services(config, dict(os.environ, **env))  # as launch does before starting servers
    with (
        start_servers(tmp_path_factory.mktemp("a"), extra_env=env, database_url=database_url) as first,
        start_servers(tmp_path_factory.mktemp("b"), extra_env=env, database_url=database_url) as second,
    ):
        yield [first, second]


def meta(reply: List[Dict[str, Any]]) -> Dict[str, Any]:
    customs = [m["custom"] for m in reply if "custom" in m]
    assert len(customs) == 1, reply  # answered exactly once
    return dict(customs[0])


@dataclass
class Conversation:
    sender: str
    kind: str  # "answers", "clarify" or "handoff"
    messages: List[str]
    expected: List[Optional[str]]  # entry id per turn; "" = clarify, None = no bot reply (paused)
    replies: List[List[Dict[str, Any]]] = field(default_factory=list)


def script(index: int, vague: str) -> Conversation:
    """Conversation ``index``: four distinct messages, of one of three kinds (``vague`` gets a clarify)."""
    first, second, third, fourth = (ANSWERS[(index + k) % len(ANSWERS)] for k in range(4))
    sender = f"scaled-{index}-{uuid.uuid4().hex[:8]}"
    if index % 5 == 0:
        messages = [first[0], PERSON, "hello? can i bring scissors", "anyone there?"]
        return Conversation(sender, "handoff", messages, [first[1], "handoff", None, None])
    if index % 5 == 1:
        # The choice typed on one server is resolved with the clarification the other server stored.
        messages = [first[0], vague, "2", second[0]]
        return Conversation(sender, "clarify", messages, [first[1], "", "choice 2", second[1]])
    return Conversation(
        sender,
        "answers",
        [q for q, _ in (first, second, third, fourth)],
        [first[1], second[1], third[1], fourth[1]],
    )


def converse(conversation: Conversation, index: int, instances: List[Servers]) -> Conversation:
    """Send the messages one after the other, alternately to the two Rasa servers."""
    for turn, message in enumerate(conversation.messages):
        conversation.replies.append(instances[(index + turn) % 2].say(conversation.sender, message))
    return conversation


def turns(tracker: Dict[str, Any]) -> List[Tuple[str, List[Dict[str, Any]]]]:
    """The tracker's events cut into turns: (user text, the events up to the next user message)."""
    result: List[Tuple[str, List[Dict[str, Any]]]] = []
    for event in tracker["events"]:
        if event["event"] == "user":
            result.append((event["text"], []))
        elif result:
            result[-1][1].append(event)
    return result


def answered_by(events: List[Dict[str, Any]]) -> List[str]:
    """The entry ids (or decisions) of the bot's custom messages in one turn's events."""
    customs = [
        e["data"]["custom"] for e in events if e["event"] == "bot" and (e.get("data") or {}).get("custom")
    ]
    return [c["entry_id"] if c["decision"] == "answer" else c["decision"] for c in customs]


def check_reply(conversation: Conversation, turn: int) -> Optional[str]:
    """Assert the HTTP reply of ``turn`` is the expected one; return what it answered with."""
    reply, expected = conversation.replies[turn], conversation.expected[turn]
    where = f"{conversation.sender} turn {turn + 1} ({conversation.messages[turn]!r})"
    if expected is None:
        assert reply == [], f"{where}: paused after the handoff, yet the bot replied {reply}"
        return None
    info = meta(reply)
    if expected == "":
        assert info["decision"] == "clarify", f"{where}: expected a clarifying question, got {info}"
        return "clarify"
    if expected == "handoff":
        assert (info["decision"], info["reason"]) == ("handoff", "requested"), f"{where}: {info}"
        return "handoff"
    if expected == "choice 2":
        choices = meta(conversation.replies[turn - 1])["choices"]
        expected = choices[1]["entry_id"]
    assert (info["decision"], info.get("entry_id")) == ("answer", expected), f"{where}: {info}"
    return expected


@pytest.mark.slow
def test_many_conversations_across_two_instances(
    two_instances: List[Servers], database_url: str, clarify_question: Dict[str, Any]
) -> None:
    conversations = [script(i, clarify_question["question"]) for i in range(CONVERSATIONS)]
    with ThreadPoolExecutor(max_workers=CONVERSATIONS) as pool:
        done = list(pool.map(converse, conversations, range(CONVERSATIONS), [two_instances] * CONVERSATIONS))
    handoffs = HandoffStore(database_url)
    try:
        for index, conversation in enumerate(done):
            answers = [check_reply(conversation, turn) for turn in range(len(conversation.messages))]
            # Read the tracker back from the server that did not take the last message.
            tracker = two_instances[(index + len(conversation.messages)) % 2].tracker(conversation.sender)
            cut = turns(tracker)
            assert [text for text, _ in cut] == conversation.messages, (
                f"{conversation.sender}: lost or reordered"
            )
            for (text, events), answer in zip(cut, answers, strict=True):
                expected = [] if answer is None else [answer]
                assert answered_by(events) == expected, f"{conversation.sender} {text!r}: {events}"
                ran = [e["name"] for e in events if e["event"] == "action" and e["name"] == "action_respond"]
                assert len(ran) == (0 if answer is None else 1), f"{conversation.sender} {text!r}: {events}"
            records = handoffs.for_conversation(conversation.sender)
            if conversation.kind == "handoff":
                assert tracker["paused"] is True
                assert [(r.reason, r.channel) for r in records] == [("requested", "rest")]
                transcript = [line["text"] for line in records[0].transcript]
                assert transcript[0] == conversation.messages[0] and transcript[-1] == PERSON
            else:
                assert records == [], f"{conversation.sender}: unexpected handoff {records}"
        # Rasa's tracker table and all of ours, in the one database.
        assert set(metadata.tables) | {"events"} <= set(sa.inspect(handoffs.engine).get_table_names())
    finally:
        handoffs.engine.dispose()


@pytest.mark.slow
def test_simultaneous_messages_of_one_conversation_take_turns(two_instances: List[Servers]) -> None:
    """Two messages of one conversation arriving at both servers at once: Redis lets one turn run at a
    time, so both are answered, each turn whole, none lost (without the lock one turn's events would
    overwrite or split the other's)."""
    pairs = [(ANSWERS[i % len(ANSWERS)], ANSWERS[(i + 5) % len(ANSWERS)]) for i in range(8)]
    senders = [f"burst-{i}-{uuid.uuid4().hex[:8]}" for i in range(len(pairs))]
    barrier = threading.Barrier(2 * len(pairs))

    def send(sender: str, server: Servers, question: str) -> List[Dict[str, Any]]:
        barrier.wait(timeout=60)
        return server.say(sender, question)

    with ThreadPoolExecutor(max_workers=2 * len(pairs)) as pool:
        futures = [
            (
                pool.submit(send, sender, two_instances[0], a[0]),
                pool.submit(send, sender, two_instances[1], b[0]),
            )
            for sender, (a, b) in zip(senders, pairs, strict=True)
        ]
        replies = [(fa.result(), fb.result()) for fa, fb in futures]
    for sender, (a, b), (reply_a, reply_b) in zip(senders, pairs, replies, strict=True):
        assert meta(reply_a)["entry_id"] == a[1] and meta(reply_b)["entry_id"] == b[1], sender
        cut = turns(two_instances[0].tracker(sender))
        assert sorted(text for text, _ in cut) == sorted([a[0], b[0]]), f"{sender}: {cut}"
        for text, events in cut:
            assert answered_by(events) == [dict([a, b])[text]], (
                f"{sender} {text!r}: turns interleaved {events}"
            )


def _scaled_config(tmp_path: Path) -> Path:
    config = yaml.safe_load((ROOT / "travelbot.yml").read_text())
    config["storage"] = {"backend": "postgresql"}
    config["server"] = {"host": "127.0.0.1", "rasa_port": free_port(), "actions_port": free_port()}
    path = tmp_path / "travelbot.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def _launch(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    """Run `python -m travelbot.launch` in the scaled mode; ``env`` adds variables, "" removes one."""
    base = dict(os.environ, TRAVELBOT_CONFIG=str(_scaled_config(tmp_path)), **env)
    base = {name: value for name, value in base.items() if value}
    command = [sys.executable, "-m", "travelbot.launch"]
    return subprocess.run(command, cwd=ROOT, env=base, capture_output=True, text=True, timeout=120)


def test_launch_names_an_unreachable_postgresql_without_its_password(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    done = _launch(tmp_path, TRAVELBOT_DATABASE_URL=f"postgresql://bot:s3cret-pw@127.0.0.1:{port}/travelbot")
    assert done.returncode == 2, done
    assert f"cannot reach PostgreSQL at postgresql://bot:***@127.0.0.1:{port}/travelbot" in done.stderr
    assert "s3cret-pw" not in done.stdout + done.stderr


def test_launch_names_an_unreachable_redis(tmp_path: Path, database_url: str) -> None:
    port = free_port()
    done = _launch(
        tmp_path, TRAVELBOT_DATABASE_URL=database_url, TRAVELBOT_REDIS_URL=f"redis://127.0.0.1:{port}/2"
    )
    assert done.returncode == 2, done
    assert f"cannot reach Redis at 127.0.0.1:{port} (database 2)" in done.stderr


def test_launch_needs_the_database_url(tmp_path: Path) -> None:
    done = _launch(tmp_path, TRAVELBOT_DATABASE_URL="")
    assert done.returncode == 2 and "$TRAVELBOT_DATABASE_URL is not set" in done.stderr, done


def test_rasa_reads_the_scaled_endpoints(monkeypatch: pytest.MonkeyPatch, database_url: str) -> None:
    """Rasa's own reader and factories on endpoints.scaled.yml: the interpolated values reach its stores."""
    from rasa.core.lock_store import LockStore
    from rasa.core.tracker_store import TrackerStore
    from rasa.core.utils import AvailableEndpoints

    from travelbot.durable_tracker import DurableSQLTrackerStore

    config = Settings.parse_obj({"storage": {"backend": "postgresql"}})
    env = dict(
        os.environ, TRAVELBOT_DATABASE_URL=database_url, TRAVELBOT_REDIS_URL="redis://127.0.0.1:6379/3"
    )
    scaled = launch.environment(config, "token", env)
    for name, value in scaled.items():
        monkeypatch.setenv(name, value)
    endpoints = AvailableEndpoints.read_endpoints(str(ROOT / services.SCALED_ENDPOINTS))
    assert endpoints.tracker_store is not None and endpoints.lock_store is not None
    assert endpoints.tracker_store.url == database_url
    tracker_store = TrackerStore.create(endpoints.tracker_store)
    assert isinstance(tracker_store, DurableSQLTrackerStore)  # not Rasa's in-memory stand-in
    assert tracker_store.engine.url.render_as_string(hide_password=False) == database_url
    tracker_store.engine.dispose()
    lock_store = LockStore.create(endpoints.lock_store)
    assert isinstance(lock_store, AtomicRedisLockStore)
    assert lock_store.red.connection_pool.connection_kwargs["db"] == 3
    assert lock_store.key_prefix == "travelbot:lock:"
    assert lock_store.red.ping()


def test_instances_get_their_own_ports_and_action_server() -> None:
    config = Settings.parse_obj({"storage": {"backend": "postgresql"}})
    assert "--endpoints endpoints.scaled.yml" in launch.commands(config)["rasa"]
    assert "--endpoints endpoints.yml" in launch.commands(Settings())["rasa"]
    procs = launch.instance_commands(config, 3, 2)
    rasa = [procs[f"rasa{i}"] for i in (1, 2, 3)]
    assert [f"--port {5005 + i}" in cmd for i, cmd in enumerate(rasa)] == [True] * 3
    assert [cmd.split()[0] for cmd in rasa] == [
        "ACTION_ENDPOINT_URL=http://127.0.0.1:5055/webhook",
        "ACTION_ENDPOINT_URL=http://127.0.0.1:5056/webhook",
        "ACTION_ENDPOINT_URL=http://127.0.0.1:5055/webhook",
    ]
    assert "--port 5056" in procs["actions2"] and "actions3" not in procs and "console" in procs
    with pytest.raises(ConfigError, match="postgresql"):
        launch.instance_commands(Settings(), 2, 1)


def test_lock_tickets_stay_unique_when_servers_ask_at_once(redis_prefix: str) -> None:
    """Eight stores (as eight Rasa servers) issue tickets for one conversation at the same moment:
    every ticket number is issued once, and the lock is gone when all are served."""
    target = services.redis_target(os.environ)
    config = EndpointConfig(
        url=target.host,
        port=target.port,
        db=target.db,
        password=target.password or None,
        key_prefix=redis_prefix,
    )
    stores = [AtomicRedisLockStore(config) for _ in range(8)]
    conversation = f"tickets-{uuid.uuid4().hex[:8]}"
    barrier = threading.Barrier(len(stores))

    def issue(store: AtomicRedisLockStore) -> List[int]:
        barrier.wait(timeout=60)
        return [store.issue_ticket(conversation) for _ in range(25)]

    with ThreadPoolExecutor(max_workers=len(stores)) as pool:
        issued = [ticket for tickets in pool.map(issue, stores) for ticket in tickets]
    assert sorted(issued) == list(range(len(issued)))
    lock = stores[0].get_lock(conversation)
    assert lock is not None and len(lock.tickets) == len(issued)
    with ThreadPoolExecutor(max_workers=len(stores)) as pool:
        list(pool.map(lambda t: stores[t % len(stores)].cleanup(conversation, t), issued))
    assert stores[0].get_lock(conversation) is None
