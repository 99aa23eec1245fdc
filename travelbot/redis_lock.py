"""Rasa's Redis lock store with each change of a lock made atomic (WATCH/MULTI/EXEC).

Rasa 3.6's ``RedisLockStore`` changes a conversation's ticket lock by GET, change in Python, SET.
Two Rasa servers taking a message of the same conversation at the same moment can both read the
same lock and both write it back with "their" ticket: both then hold the same ticket number, run the
turn at the same time and the SQL tracker store keeps only part of the second turn (seen here in
tests/test_scaled_mode.py; RasaHQ/rasa#9213; Rasa's fix, ConcurrentRedisLockStore, is only in Rasa Pro).

This subclass keeps Rasa's keys and serialised ``TicketLock`` values, and runs every change
(issue a ticket, drop expired tickets, finish serving / clean up) as a redis-py transaction on the
watched key, retried when another server changed the key in between.
"""

from __future__ import annotations

import json
from typing import Callable, Optional, Tuple, TypeVar

from rasa.core.lock import TicketLock
from rasa.core.lock_store import LOCK_LIFETIME, LockError, RedisLockStore
from rasa.utils.endpoints import EndpointConfig
from redis.client import Pipeline

T = TypeVar("T")
# A change gets the stored lock (None when there is none) and returns the lock to store (None deletes
# the key) and a value for the caller.
Change = Callable[[Optional[TicketLock]], Tuple[Optional[TicketLock], T]]


class AtomicRedisLockStore(RedisLockStore):
    """``type: travelbot.redis_lock.AtomicRedisLockStore`` in endpoints; same keys as ``type: redis``."""

    def __init__(self, endpoint_config: EndpointConfig) -> None:
        # Rasa builds lock stores named by module path with the endpoint config alone.
        super().__init__(host=endpoint_config.url or "localhost", **endpoint_config.kwargs)

    def _change(self, conversation_id: str, change: Change[T]) -> T:
        key = self.key_prefix + conversation_id

        def attempt(pipe: Pipeline) -> T:
            raw = pipe.get(key)  # immediate mode: the key is WATCHed
            lock = TicketLock.from_dict(json.loads(raw)) if raw else None
            new_lock, value = change(lock)
            pipe.multi()
            if new_lock is None:
                pipe.delete(key)
            else:
                pipe.set(key, new_lock.dumps())
            return value

        return self.red.transaction(attempt, key, value_from_callable=True)

    def issue_ticket(self, conversation_id: str, lock_lifetime: float = LOCK_LIFETIME) -> int:
        def issue(lock: Optional[TicketLock]) -> Tuple[Optional[TicketLock], int]:
            lock = lock or self.create_lock(conversation_id)
            return lock, lock.issue_ticket(lock_lifetime)

        try:
            return self._change(conversation_id, issue)
        except Exception as exc:  # as Rasa's own issue_ticket does
            raise LockError(f"Error while acquiring lock. Error:\n{exc}") from exc

    def update_lock(self, conversation_id: str) -> None:
        def drop_expired(lock: Optional[TicketLock]) -> Tuple[Optional[TicketLock], None]:
            if lock:
                lock.remove_expired_tickets()
            return lock, None

        self._change(conversation_id, drop_expired)

    def finish_serving(self, conversation_id: str, ticket_number: int) -> None:
        def finish(lock: Optional[TicketLock]) -> Tuple[Optional[TicketLock], None]:
            if lock:
                lock.remove_ticket_for(ticket_number)
            return lock, None

        self._change(conversation_id, finish)

    def cleanup(self, conversation_id: str, ticket_number: int) -> None:
        """Finish this ticket and delete the lock when nobody waits, in one step (Rasa: three)."""

        def finish_and_clean(lock: Optional[TicketLock]) -> Tuple[Optional[TicketLock], None]:
            if lock:
                lock.remove_ticket_for(ticket_number)
            return (lock if lock and lock.is_someone_waiting() else None), None

        self._change(conversation_id, finish_and_clean)
