"""PostgreSQL restarted under load (scaled mode): every message is answered once, none lost or repeated.

The database is a PostgreSQL server of this test's own (tests/postgres.py ``OwnPostgres``), so stopping
it disturbs no other test; Redis (the lock store) is the machine's, under a key prefix of this run.
Conversations keep talking through the REST channel while the server is stopped for a few seconds and
started again: the tracker store waits for it (travelbot/durable_tracker.py) instead of falling back to
memory, which Rasa's own wrapper would do.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, Iterator, List

import pytest
import requests
import sqlalchemy as sa
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import UserUttered

from channels.silence import UNAVAILABLE_TEXT
from tests.postgres import OwnPostgres
from tests.servers import Servers, free_port, start_servers
from tests.test_rasa_server_fixes import _conversation
from tests.test_scaled_mode import redis_prefix  # noqa: F401 (a fixture: this run's Redis key prefix)
from travelbot import services
from travelbot.durable_tracker import DurableSQLTrackerStore

pytestmark = pytest.mark.slow

WAIT_S = 300  # upper bounds for a busy machine; nothing asserts on how long a step took
DOWN_S = 3.0
QUESTIONS = [
    "can i bring my power bank in checked luggage",
    "is a pocket knife ok in carry on",
    "do i need a real id to fly",
    "how much shampoo can i take on the plane",
    "can i bring a bottle of wine in my checked bag",
    "can i take my laptop in my carry on",
    "are lighters allowed on planes",
    "can i bring baby formula",
]
CONVERSATIONS = 6


@pytest.fixture(scope="module")
def own_postgres() -> Iterator[OwnPostgres]:
    server = OwnPostgres(free_port())
    try:
        server.start()
        yield server
    finally:
        server.remove()


def store(url: str, retry_s: float) -> DurableSQLTrackerStore:
    return DurableSQLTrackerStore(Domain.empty(), dialect="postgresql", host=url, retry_s=retry_s)


def test_a_save_during_a_restart_waits_for_the_database_and_stores_each_event_once(
    own_postgres: OwnPostgres,
) -> None:
    tracker_store = store(own_postgres.url, retry_s=WAIT_S)
    sender = f"restart-{uuid.uuid4().hex[:8]}"

    async def run() -> None:
        await tracker_store.save(_conversation(sender))
        tracker = await tracker_store.retrieve(sender)
        assert tracker is not None
        tracker.update(UserUttered("and a lighter?", {"name": "ask_screening", "confidence": 0.9}))
        own_postgres.stop()
        saving = asyncio.create_task(tracker_store.save(tracker))
        await asyncio.sleep(DOWN_S)
        assert not saving.done()  # still waiting for the database, not saved to memory
        await asyncio.to_thread(own_postgres.start)
        await asyncio.wait_for(saving, WAIT_S)

    asyncio.run(run())
    with sa.create_engine(own_postgres.url).connect() as conn:
        rows = conn.execute(
            sa.text("SELECT type_name FROM events WHERE sender_id = :s ORDER BY id"), {"s": sender}
        ).fetchall()
    assert [r[0] for r in rows] == ["action", "session_started", "action", "user", "user"]


def test_a_database_that_stays_down_is_an_error_not_an_empty_conversation(own_postgres: OwnPostgres) -> None:
    tracker_store = store(own_postgres.url, retry_s=1.0)
    own_postgres.stop()
    try:
        with pytest.raises(sa.exc.OperationalError):
            asyncio.run(tracker_store.retrieve("anyone"))
    finally:
        own_postgres.start()


@pytest.fixture(scope="module")
def scaled_on_own_postgres(
    tmp_path_factory: pytest.TempPathFactory,
    own_postgres: OwnPostgres,
    redis_prefix: str,  # noqa: F811 (the fixture imported above)
) -> Iterator[Servers]:
    env = {services.REDIS_PREFIX_ENV: redis_prefix}
    workdir = tmp_path_factory.mktemp("pg-restart")
    with start_servers(workdir, extra_env=env, database_url=own_postgres.url) as servers:
        yield servers


def user_texts(servers: Servers, sender: str) -> List[str]:
    return [e["text"] for e in servers.tracker(sender)["events"] if e["event"] == "user"]


def test_postgresql_restarted_under_load_loses_and_repeats_nothing(
    scaled_on_own_postgres: Servers, own_postgres: OwnPostgres
) -> None:
    """Each conversation talks without pause from before the stop until three turns after the start."""
    servers = scaled_on_own_postgres
    answered = threading.Semaphore(0)
    restarted = threading.Event()
    sent: Dict[str, List[str]] = {}
    replies: Dict[str, List[List[dict]]] = {}

    def converse(sender: str) -> None:
        sent[sender], replies[sender] = [], []
        after_restart = 0
        while after_restart < 3:
            after_restart += restarted.is_set()
            question = QUESTIONS[len(sent[sender]) % len(QUESTIONS)]
            sent[sender].append(question)
            reply = requests.post(
                f"{servers.rasa_url}/webhooks/rest/webhook",
                json={"sender": sender, "message": question},
                timeout=WAIT_S,
            )
            assert reply.status_code == 200, reply.text
            replies[sender].append(reply.json())
            answered.release()

    senders = [f"pg-{n}-{uuid.uuid4().hex[:8]}" for n in range(CONVERSATIONS)]
    with ThreadPoolExecutor(max_workers=CONVERSATIONS) as pool:
        running = [pool.submit(converse, sender) for sender in senders]
        for _ in range(2 * CONVERSATIONS):  # every conversation under way before the restart
            assert answered.acquire(timeout=WAIT_S)
        own_postgres.stop()
        time.sleep(DOWN_S)  # travelers keep sending while the database is down
        own_postgres.start()
        restarted.set()
        for done in running:
            done.result(WAIT_S)

    log = (servers.logs / "rasa.log").read_text()
    assert "tracker store: database unreachable" in log  # the restart did hit messages in flight
    for sender in senders:
        for turn in replies[sender]:
            texts = [m["text"] for m in turn if "text" in m]
            customs = [m["custom"] for m in turn if "custom" in m]
            assert texts and UNAVAILABLE_TEXT not in texts, turn
            assert len(customs) == 1 and customs[0]["decision"] != "error", turn
        assert user_texts(servers, sender) == sent[sender]  # every message once, in order
        assert not servers.tracker(sender)["paused"]
