"""Process-wide singletons shared by the action server and the CLI."""

from __future__ import annotations

import threading
from typing import Optional

from knowledge.base import load_or_build
from knowledge.policy import Policy
from travelbot.deliveries import DeliveryLog
from travelbot.feedback import FeedbackStore
from travelbot.handoffs import HandoffStore
from travelbot.optouts import OptOutStore
from travelbot.settings import settings

_lock = threading.Lock()
_policy: Optional[Policy] = None
_store: Optional[HandoffStore] = None
_deliveries: Optional[DeliveryLog] = None
_optouts: Optional[OptOutStore] = None
_feedback: Optional[FeedbackStore] = None


def policy(progress: bool = False) -> Policy:
    """The decision policy over the current knowledge base (built if stale)."""
    global _policy
    with _lock:
        if _policy is None:
            config = settings()
            kb = load_or_build(config.index_path(), progress=progress)
            _policy = Policy(kb, config.retrieval)
        return _policy


def handoff_store() -> HandoffStore:
    global _store
    with _lock:
        if _store is None:
            _store = HandoffStore(settings().storage.url())
        return _store


def delivery_log() -> DeliveryLog:
    """Seen inbound message ids, in the same database as the handoffs."""
    global _deliveries
    store = handoff_store()
    with _lock:
        if _deliveries is None:
            _deliveries = DeliveryLog(store.engine)
        return _deliveries


def feedback_store() -> FeedbackStore:
    """Travelers' votes on answers, in the same database as the handoffs."""
    global _feedback
    store = handoff_store()
    with _lock:
        if _feedback is None:
            _feedback = FeedbackStore(store.engine)
        return _feedback


def opt_out_store() -> OptOutStore:
    """Who texted STOP on the SMS/WhatsApp channels, in the same database as the handoffs."""
    global _optouts
    store = handoff_store()
    with _lock:
        if _optouts is None:
            _optouts = OptOutStore(store.engine)
        return _optouts
