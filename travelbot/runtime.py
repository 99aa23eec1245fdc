"""Process-wide singletons shared by the action server and the CLI."""

from __future__ import annotations

import threading
from typing import Optional

from knowledge.base import load_or_build
from knowledge.policy import Policy
from travelbot.handoffs import HandoffStore
from travelbot.settings import settings

_lock = threading.Lock()
_policy: Optional[Policy] = None
_store: Optional[HandoffStore] = None


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
