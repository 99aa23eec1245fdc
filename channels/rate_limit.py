"""Per-sender message limit shared by every traveler channel (REST, web chat, SMS, WhatsApp, Messenger).

A moving window from the ``limits`` library: at most ``rate_limit.per_sender``
messages (travelbot.yml, e.g. "20/minute") from one sender on one channel in
any such span. A limited message never reaches Rasa. Counts live in memory in
the embedded mode (one Rasa server); in the scaled mode several Rasa servers
take one sender's messages, so they count together in Redis
($TRAVELBOT_REDIS_URL, the lock store's Redis).

Someone who floods a text channel gets ONE short notice per window, not one
per message (each reply costs the traveler a text and us a send): the notice
has its own limit, one per window, hit only when a message is refused.

On REST and the web chat anyone can pick a new sender id for every message, so those channels also
count per client network address (``rate_limit.per_client_address``, higher: several travelers can share
one address behind a NAT). Behind reverse proxies the address is the one the nearest trusted proxy
recorded in X-Forwarded-For (``rate_limit.trusted_proxies``: how many proxies are in front); with none,
the header is ignored, since any client can write it.

When Redis cannot be reached the message is let through and the failure
logged: a lost answer is worse than a missed limit, and the scaled mode's
launch already checks Redis before starting.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import math
import os
import threading
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Mapping, Optional

from limits import RateLimitItem, parse
from limits.storage import MemoryStorage, RedisStorage, Storage
from limits.strategies import MovingWindowRateLimiter

from travelbot import services
from travelbot.settings import Settings, settings

logger = logging.getLogger(__name__)

LIMITED_TEXT = (
    "You are sending messages faster than I can answer, so I skipped some. "
    "Please wait a moment, then send your question again."
)
REDIS_TIMEOUT_S = 2


class PrunedMemoryStorage(MemoryStorage):
    """``limits``' memory storage, swept inline and reading only what has expired.

    Why: the library's sweep (a timer thread, restarted 10 ms after any hit) takes a lock on and checks
    every moving-window entry of every key, expired or not. Under steady traffic that is every message
    of the last window each time: at 50 messages/s with a one-minute window, thousands of entries a
    hundred times a second, several ms of CPU per message, taken from the Rasa server's event loop. And
    each restart is a new thread whose start the hit waits for, on the event loop, up to 100 times a
    second: on a busy machine that wait is a scheduling delay for every conversation.

    Here no timer thread is started after the first: a hit sweeps, at most once per ``SWEEP_EVERY_S``.
    Each key's entries are stored newest first, so the expired ones are the tail of its list; the sweep
    drops that tail and forgets keys left empty (under a lock that a hit also holds, so a key is never
    removed between a hit's lookups, should the library's first timer run it at the same moment). The
    limit check itself never reads expired entries, so what is allowed is unchanged: the sweep only
    bounds memory. (Pinned ``limits==2.4.0``: its private scheduling and sweep methods are replaced;
    tests/test_rate_limit.py checks they are still the ones its hits call.)
    """

    SWEEP_EVERY_S = 1.0

    def __init__(self) -> None:
        self._keys = threading.Lock()  # before the library starts its first sweep
        self._last_sweep = time.monotonic()
        super().__init__()

    def acquire_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        with self._keys:
            allowed = bool(super().acquire_entry(key, limit, expiry, amount))
        self._sweep_if_due()
        return allowed

    def incr(self, key: str, expiry: int, elastic_expiry: bool = False, amount: int = 1) -> int:
        count = int(super().incr(key, expiry, elastic_expiry, amount))
        self._sweep_if_due()
        return count

    def _MemoryStorage__schedule_expiry(self) -> None:
        """The library's hits call this to (re)start its timer thread; they sweep inline instead."""

    def _sweep_if_due(self) -> None:
        now = time.monotonic()
        if now - self._last_sweep >= self.SWEEP_EVERY_S:
            self._last_sweep = now
            self._MemoryStorage__expire_events()

    def _MemoryStorage__expire_events(self) -> None:
        now = time.time()
        for key, entries in list(self.events.items()):
            while entries and entries[-1].expiry <= now:
                entries.pop()
            if not entries:
                with self._keys:
                    if not entries:
                        self.events.pop(key, None)
        for key, expires_at in list(self.expirations.items()):
            if expires_at <= now:
                self.storage.pop(key, None)
                self.expirations.pop(key, None)


class Verdict(enum.Enum):
    ALLOW = "allow"  # within the limit: pass the message on
    NOTIFY = "notify"  # over the limit, first time in this window: tell the traveler once
    SILENT = "silent"  # over the limit, already told: drop it without a word


@dataclass(frozen=True)
class Admission:
    verdict: Verdict
    retry_after_s: int = 0  # when refused: seconds until this sender may send again

    @property
    def allowed(self) -> bool:
        return self.verdict is Verdict.ALLOW


class SenderLimit:
    """One rate for every sender, counted per (channel, sender) in ``storage``."""

    def __init__(self, rate: RateLimitItem, storage: Storage, namespace: str = "travelbot-rate"):
        kind = type(rate)
        self.rate = kind(rate.amount, rate.multiples, namespace=namespace)
        self.notice = kind(1, rate.multiples, namespace=f"{namespace}-notice")  # one notice per window
        self.storage = storage
        self.limiter = MovingWindowRateLimiter(storage)

    @property
    def window_s(self) -> int:
        return int(self.rate.get_expiry())

    def check(self, channel: str, sender: str) -> Admission:
        """Count one message of ``sender`` on ``channel`` (blocking: Redis is a network call)."""
        try:
            if self.limiter.hit(self.rate, channel, sender):
                return Admission(Verdict.ALLOW)
            first = self.limiter.hit(self.notice, channel, sender)
            reset, _ = self.limiter.get_window_stats(self.rate, channel, sender)
        except Exception:  # Redis down: see the module docstring
            logger.exception("rate limit storage unavailable: a %s message let through unlimited", channel)
            return Admission(Verdict.ALLOW)
        wait_s = max(1, min(self.window_s, math.ceil(reset - time.time())))
        return Admission(Verdict.NOTIFY if first else Verdict.SILENT, wait_s)

    async def admit(self, channel: str, sender: str) -> Admission:
        """``check`` without blocking the event loop on a network storage."""
        if isinstance(self.storage, MemoryStorage):
            return self.check(channel, sender)
        return await asyncio.to_thread(self.check, channel, sender)


def storage_for(config: Settings, env: Mapping[str, str]) -> Storage:
    """Memory in the embedded mode; the scaled mode's Redis, shared by every Rasa server."""
    if not services.is_scaled(config):
        return PrunedMemoryStorage()
    url = env.get(services.REDIS_URL_ENV) or services.DEFAULT_REDIS_URL
    return RedisStorage(url, socket_timeout=REDIS_TIMEOUT_S, socket_connect_timeout=REDIS_TIMEOUT_S)


def from_settings(
    config: Settings, env: Optional[Mapping[str, str]] = None, per: str = "sender"
) -> SenderLimit:
    """``per``: "sender" (rate_limit.per_sender) or "address" (rate_limit.per_client_address)."""
    env = os.environ if env is None else env
    prefix = env.get(services.REDIS_PREFIX_ENV) or services.DEFAULT_REDIS_PREFIX
    rate = config.rate_limit.per_sender if per == "sender" else config.rate_limit.per_client_address
    namespace = f"{prefix}-rate" if per == "sender" else f"{prefix}-rate-address"
    return SenderLimit(parse(rate), storage_for(config, env), namespace)


@lru_cache(maxsize=1)
def sender_limit() -> SenderLimit:
    """The process-wide limit every channel of this Rasa server counts in."""
    return from_settings(settings())


@lru_cache(maxsize=1)
def address_limit() -> SenderLimit:
    """The process-wide limit per client address (REST and web chat)."""
    return from_settings(settings(), per="address")


def client_address(peer: str, forwarded_for: Optional[str], trusted_proxies: int) -> str:
    """The client's address: the peer's, or with N trusted proxies in front the Nth X-Forwarded-For
    entry from the right (each proxy appends the address it got the request from)."""
    if trusted_proxies > 0 and forwarded_for:
        hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
        if len(hops) >= trusted_proxies:
            return hops[-trusted_proxies]
    return peer or "unknown"
