"""Rasa's SQL tracker store that waits out a database restart instead of losing conversation history.

Rasa 3.6 wraps every tracker store in ``FailSafeTrackerStore``. When the database cannot be reached it
logs an error and carries on: ``retrieve`` returns no tracker (so the turn starts a new conversation,
without the traveler's history or a pending handoff) and ``save`` writes to an in-memory store that
nothing reads again. A PostgreSQL restart under load therefore loses turns silently.

This store instead retries each operation while the error is one of a connection (refused, reset,
closed by a restarting server) for up to ``retry_s`` seconds, with growing pauses (tenacity), taking a
fresh connection each time (``pool_pre_ping`` drops the pool's dead ones). The conversation's lock
(in-memory, or Redis in the scaled mode) stays held meanwhile, so the turns of one conversation still
run one at a time and in order. Past ``retry_s`` the error reaches the channel, which answers with a
clear, retryable error (REST: 503) rather than pretending. ``travelbot.rasa_server`` removes Rasa's
fallback wrapper so that it does.

Reading a conversation back reads only the events stored since its last read (travelbot/session_cache.py);
counting its stored events when saving uses a statement built once, on the table's columns, instead of
Rasa's ORM query rebuilt on each call (the query building and ORM objects were a tenth of the Rasa
server's CPU time per message).

A retried save cannot store an event twice: Rasa's save counts the events already stored for the
conversation and inserts only the rest, in one transaction, so an insert that committed before the
connection dropped is counted on the next attempt.

``type: travelbot.durable_tracker.DurableSQLTrackerStore`` in endpoints.scaled.yml; the SQLite store of
the embedded mode (travelbot/sqlite_tracker.py) builds on it.
"""

from __future__ import annotations

import functools
import itertools
import json
import logging
from typing import Any, Awaitable, Callable, Iterable, Iterator, Optional, TypeVar

import sqlalchemy as sa
from rasa.core.brokers.broker import EventBroker
from rasa.core.tracker_store import SQLTrackerStore, create_engine_kwargs
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import Event, SessionStarted
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import INTENT_NAME_KEY
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_delay, wait_exponential

from travelbot.session_cache import LatestSessionCache

logger = logging.getLogger(__name__)

DEFAULT_RETRY_S = 30.0
T = TypeVar("T")


def is_connection_error(error: BaseException) -> bool:
    """A database that is down or restarting, as opposed to a bad query (which retrying cannot fix)."""
    if isinstance(error, sa.exc.DBAPIError) and error.connection_invalidated:
        return True
    return isinstance(error, (sa.exc.OperationalError, sa.exc.InterfaceError))


def _log_retry(call: str, state: RetryCallState) -> None:
    error = state.outcome.exception() if state.outcome else None
    logger.warning(
        "tracker store: database unreachable (%s) in %s; retrying (attempt %d, %.1f s so far)",
        type(error).__name__,
        call,
        state.attempt_number,
        state.seconds_since_start or 0.0,
    )


class DurableSQLTrackerStore(SQLTrackerStore):
    def __init__(
        self,
        domain: Optional[Domain] = None,
        event_broker: Optional[EventBroker] = None,
        retry_s: float = DEFAULT_RETRY_S,
        **kwargs: Any,
    ) -> None:
        super().__init__(domain, event_broker=event_broker, **kwargs)
        self.retry_s = float(retry_s)
        rasa_engine: sa.engine.Engine = self.engine
        rasa_engine.dispose()
        self.use_engine(self.make_engine(rasa_engine.url))
        self._latest_session_count = latest_session_count(self.SQLEvent.__table__)
        self._sessions = LatestSessionCache(self.SQLEvent.__table__)

    def make_engine(self, url: sa.engine.URL) -> sa.engine.Engine:
        """Rasa's engine options, with each pooled connection checked before use."""
        return sa.create_engine(url, pool_pre_ping=True, **create_engine_kwargs(url))

    def use_engine(self, engine: sa.engine.Engine) -> None:
        self.engine = engine
        self.sessionmaker = sa.orm.session.sessionmaker(bind=engine)

    async def _retrying(self, call: Callable[..., Awaitable[T]], *args: Any) -> T:
        retrying = AsyncRetrying(
            retry=retry_if_exception(is_connection_error),
            wait=wait_exponential(multiplier=0.05, max=2.0),
            stop=stop_after_delay(self.retry_s),
            before_sleep=functools.partial(_log_retry, call.__name__.lstrip("_")),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                return await call(*args)
        raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover

    async def retrieve(self, sender_id: str) -> Optional[DialogueStateTracker]:
        return await self._retrying(super().retrieve, sender_id)

    async def retrieve_full_tracker(self, sender_id: str) -> Optional[DialogueStateTracker]:
        return await self._retrying(super().retrieve_full_tracker, sender_id)

    async def keys(self) -> Iterable[str]:
        return await self._retrying(super().keys)

    async def _retrieve(
        self, sender_id: str, fetch_events_from_all_sessions: bool
    ) -> Optional[DialogueStateTracker]:
        """Rasa's ``_retrieve``; the latest session's events come from the cache of parsed events, which
        reads only the rows added since the conversation's last read (travelbot/session_cache.py)."""
        if fetch_events_from_all_sessions:
            return await super()._retrieve(sender_id, fetch_events_from_all_sessions)
        with self.engine.connect() as connection:
            events = self._sessions.read(connection, sender_id)
        if not self.domain or not events:
            return None
        return DialogueStateTracker.from_dict(sender_id, events, self.domain.slots)

    def _additional_events(self, session: sa.orm.Session, tracker: DialogueStateTracker) -> Iterator[Event]:
        """Rasa's: the tracker's events past those already stored for its latest session."""
        stored = session.execute(self._latest_session_count, {"sender_id": tracker.sender_id}).scalar_one()
        return itertools.islice(tracker.events, stored, len(tracker.events))

    async def save(self, tracker: DialogueStateTracker) -> None:
        """Streams the events to the event broker (if any) once, then stores them, retrying."""
        await self.stream_events(tracker)
        await self._retrying(self._store_new_events, tracker)

    async def _store_new_events(self, tracker: DialogueStateTracker) -> None:
        """Rasa 3.6's ``SQLTrackerStore.save`` after its first step (``stream_events``): the same rows,
        inserted in one statement rather than through ORM objects."""
        with self.session_scope() as session:
            new_events = self._additional_events(session, tracker)
            rows = [event_row(tracker.sender_id, event) for event in new_events]
            if rows:
                session.execute(self.SQLEvent.__table__.insert(), rows)
            session.commit()


def event_row(sender_id: str, event: Event) -> dict[str, Any]:
    data = event.as_dict()
    return {
        "sender_id": sender_id,
        "type_name": event.type_name,
        "timestamp": data.get("timestamp"),
        "intent_name": data.get("parse_data", {}).get("intent", {}).get(INTENT_NAME_KEY),
        "action_name": data.get("name"),
        "data": json.dumps(data),
    }


def latest_session_count(events: sa.Table) -> sa.sql.Select:
    """How many events a conversation has stored since its latest session start.

    The same condition as Rasa's ``SQLTrackerStore._event_query``: a timestamp at or after the latest
    ``session_started`` event's, or every event when there is none.
    """
    sender = events.c.sender_id == sa.bindparam("sender_id")
    session_start = (
        sa.select(sa.func.max(events.c.timestamp))
        .where(sender, events.c.type_name == SessionStarted.type_name)
        .scalar_subquery()
    )
    latest = sa.and_(sender, sa.or_(events.c.timestamp >= session_start, session_start.is_(None)))
    return sa.select(sa.func.count()).select_from(events).where(latest)
