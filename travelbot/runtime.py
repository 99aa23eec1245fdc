"""Process-wide singletons shared by the action server and the CLI."""

from __future__ import annotations

import threading
from typing import Any, Dict, Optional, Type, TypeVar, cast

from knowledge.policy import Policy
from travelbot.deliveries import DeliveryLog
from travelbot.feedback import FeedbackStore
from travelbot.handoffs import HandoffStore
from travelbot.live_policy import LivePolicy
from travelbot.optouts import OptOutStore
from travelbot.settings import settings
from travelbot.sqlite_engine import is_sqlite_file, sqlite_engine

_lock = threading.Lock()
_live: Optional[LivePolicy] = None
_store: Optional[HandoffStore] = None


def policy(progress: bool = False) -> Policy:
    """The decision policy over the published knowledge base (swapped when a new version is published)."""
    global _live
    with _lock:
        if _live is None:
            _live = LivePolicy(settings(), progress)
        live = _live
    return live.current()


def handoff_store() -> HandoffStore:
    global _store
    with _lock:
        if _store is None:
            _store = HandoffStore(settings().storage.url())
        return _store


_stores: Dict[type, Any] = {}
StoreT = TypeVar("StoreT")


def _on_handoff_engine(kind: Type[StoreT], synchronous: str = "FULL") -> StoreT:
    """One instance of a store in the handoff store's database, on its engine; on SQLite with
    ``synchronous="NORMAL"``, through connections of its own to the same file."""
    engine = handoff_store().engine
    with _lock:
        if kind not in _stores:
            if synchronous != "FULL" and is_sqlite_file(engine.url):
                engine = sqlite_engine(engine.url, synchronous=synchronous, future=True)
            _stores[kind] = kind(engine)  # type: ignore[call-arg]
        return cast(StoreT, _stores[kind])


def delivery_log() -> DeliveryLog:
    """Seen inbound message ids, in the same database as the handoffs; on SQLite its commits do not
    wait for the disk (travelbot/deliveries.py says why that is enough)."""
    return _on_handoff_engine(DeliveryLog, synchronous="NORMAL")


def feedback_store() -> FeedbackStore:
    """Travelers' votes on answers, in the same database as the handoffs."""
    return _on_handoff_engine(FeedbackStore)


def opt_out_store() -> OptOutStore:
    """Who texted STOP on the SMS/WhatsApp channels, in the same database as the handoffs."""
    return _on_handoff_engine(OptOutStore)
