"""Publish and roll back while travelers keep asking (issue 6): no message fails, none sees a mixed state.

The real Rasa and action servers answer from a corpus copy (version 1 published) while several threads send
traveler messages over the REST channel, each message from a new sender (the per-sender rate limit is never
reached). Meanwhile one edited entry is published in-process, as the console does, and then rolled back.

The action server swaps versions between two messages (travelbot/live_policy.py), so once any reply has shown
a version, every message sent after that reply arrived must get that version too, until the next swap.
"""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from dataclasses import dataclass
from types import TracebackType
from typing import Callable, Iterator, List, Optional, Tuple, Type

import pytest
import requests

from tests.browser_fixtures import PublishedCopy, published_copy
from tests.servers import Servers, start_servers
from travelbot.publisher import PublishResult, publish
from travelbot.rollback import rollback

pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]  # two servers, two models, two gated publications

ENTRY = "smart-luggage"
QUESTION = "can i bring smart luggage on a plane"
OTHERS = ("can i put my power bank in checked luggage?", "do i need a real id to fly")
NEW_SENTENCE = "Some airlines ask you to show that the battery comes out."
SENDERS = 5
REQUEST_TIMEOUT_S = 120  # one message on a busy machine (not an assertion)
LIVE_WITHIN_S = 60  # publish() or rollback() returned -> a reply from that version (reload check: 0.5 s)
SEEN_AFTER_SWAP = 10  # answers to the edited question collected after each swap was first seen
WAIT_S = 600  # for the load to produce those answers (not an assertion)


@dataclass(frozen=True)
class Reply:
    question: str
    sent: float  # time.monotonic()
    received: float
    status: int  # 0: no HTTP reply at all (see error)
    text: str  # the bot messages' texts, a blank line between two
    error: str = ""


def _texts(reply: requests.Response) -> str:
    """The answer as the REST channel returns it: Rasa sends each paragraph as its own message."""
    if reply.status_code != 200:
        return ""
    return "\n\n".join(str(m["text"]) for m in reply.json() if m.get("text")).strip()


class Load:
    """SENDERS threads asking QUESTION and OTHERS in a loop until the block ends; every reply is kept."""

    def __init__(self, rasa_url: str) -> None:
        self.url = f"{rasa_url}/webhooks/rest/webhook"
        self.replies: List[Reply] = []
        self._arrived = threading.Condition()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._send, args=(n,), daemon=True) for n in range(SENDERS)]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(
        self, kind: Optional[Type[BaseException]], exc: Optional[BaseException], tb: Optional[TracebackType]
    ) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=REQUEST_TIMEOUT_S + 30)
        assert not any(thread.is_alive() for thread in self._threads), "a sender never finished"

    def _send(self, number: int) -> None:
        with requests.Session() as session:
            for count in itertools.count():
                for question in (QUESTION, *OTHERS):
                    if self._stop.is_set():
                        return
                    sender = f"load-{number}-{count}-{uuid.uuid4().hex[:8]}"  # a new sender every message
                    sent = time.monotonic()
                    try:
                        answer = session.post(
                            self.url, json={"sender": sender, "message": question}, timeout=REQUEST_TIMEOUT_S
                        )
                        reply = Reply(question, sent, time.monotonic(), answer.status_code, _texts(answer))
                    except (requests.RequestException, ValueError) as exc:
                        reply = Reply(question, sent, time.monotonic(), 0, "", repr(exc))
                    with self._arrived:
                        self.replies.append(reply)
                        self._arrived.notify_all()

    def edited(self) -> List[Reply]:
        with self._arrived:
            return [r for r in self.replies if r.question == QUESTION]

    def wait_for(self, what: str, found: Callable[[List[Reply]], Optional[Reply]], timeout: float) -> Reply:
        """The reply ``found`` picks from the answers to QUESTION so far, waiting for it up to ``timeout``."""
        with self._arrived:
            hit = self._arrived.wait_for(
                lambda: found([r for r in self.replies if r.question == QUESTION]), timeout
            )
            failed = [r for r in self.replies if r.status != 200 or not r.text][:3]
        assert hit is not None, f"no {what} within {timeout:.0f} s; failed replies: {failed}"
        return hit


def first(replies: List[Reply], text: str, sent_after: float = float("-inf")) -> Optional[Reply]:
    return next((r for r in replies if r.text == text and r.sent >= sent_after), None)


def settled(count: int, since: float) -> Callable[[List[Reply]], Optional[Reply]]:
    """Picks the ``count``-th answer sent after ``since``: enough answers to see the old text stay away."""

    def pick(replies: List[Reply]) -> Optional[Reply]:
        later = [r for r in replies if r.sent >= since]
        return later[count - 1] if len(later) >= count else None

    return pick


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tuple[PublishedCopy, Servers]]:
    workdir = tmp_path_factory.mktemp("publish-load")
    copy = published_copy(workdir)
    with start_servers(workdir, extra_env=copy.server_env) as servers:
        yield copy, servers


def timed(action: Callable[[], PublishResult]) -> Tuple[PublishResult, float, float]:
    started = time.monotonic()
    result = action()
    return result, started, time.monotonic()


def test_publish_and_rollback_under_load_fail_no_message_and_never_mix_versions(
    live: Tuple[PublishedCopy, Servers],
) -> None:
    copy, servers = live
    old = copy.entry(ENTRY).answer.strip()
    copy.append_to_answer(ENTRY, NEW_SENTENCE)
    new = copy.entry(ENTRY).answer.strip()
    assert new != old and NEW_SENTENCE in new

    with Load(servers.rasa_url) as load:
        load.wait_for("answer before publishing", lambda replies: first(replies, old), WAIT_S)
        published, publish_started, publish_done = timed(
            lambda: publish(copy.config, reason="load test", embedder=copy.embedder, author="test")
        )
        assert published.ok and published.version == 2 and published.gate == "passed", published.lines
        first_new = load.wait_for(
            "answer with the new text", lambda replies: first(replies, new), LIVE_WITHIN_S
        )
        load.wait_for("answers after the publication", settled(SEEN_AFTER_SWAP, first_new.received), WAIT_S)

        rolled, rollback_started, rollback_done = timed(
            lambda: rollback(copy.config, 1, "load test", embedder=copy.embedder, author="test")
        )
        assert rolled.ok and rolled.version == 3, rolled.lines
        first_old = load.wait_for(
            "answer with the old text after the rollback",
            lambda replies: first(replies, old, sent_after=rollback_started),
            max(LIVE_WITHIN_S - (time.monotonic() - rollback_done), 0.1),
        )
        load.wait_for("answers after the rollback", settled(SEEN_AFTER_SWAP, first_old.received), WAIT_S)
    assert first_new.received - publish_done <= LIVE_WITHIN_S
    assert first_old.received - rollback_done <= LIVE_WITHIN_S
    replies = load.replies
    print(
        f"{len(replies)} replies, {len(load.edited())} to the edited question; first new text "
        f"{first_new.received - publish_done:+.2f} s after publish() returned, first old text again "
        f"{first_old.received - rollback_done:+.2f} s after rollback() returned"
    )

    failed = [r for r in replies if r.status != 200 or not r.text]
    assert failed == [], failed[:10]
    assert {r.question for r in replies} == {QUESTION, *OTHERS}
    edited = load.edited()
    mixed = [r.text for r in edited if r.text not in (old, new)]
    assert mixed == [], mixed[:3]

    # The load really ran through both swaps.
    assert any(publish_started <= r.received <= publish_done for r in replies)
    assert any(rollback_started <= r.received <= rollback_done for r in replies)

    def texts(sent_from: float, received_by: float = float("inf")) -> List[str]:
        return [r.text for r in edited if r.sent >= sent_from and r.received <= received_by]

    before = [r.text for r in edited if r.received < publish_started]
    assert before and set(before) == {old}
    assert set(texts(first_new.received, received_by=rollback_started)) == {new}  # never the old again
    assert set(texts(first_old.received)) == {old}  # never the new again after the rollback
