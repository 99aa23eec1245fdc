"""Optional outbound notification: POST each new handoff to an external contact-center system.

Set ``console.notify_webhook_url`` in travelbot.yml. The console process then
checks for waiting handoffs every poll interval and POSTs one JSON object per
handoff, once: the ``handoff_notifications`` table remembers which were sent
(or given up on), so a restart neither repeats nor skips any. With
$CONSOLE_WEBHOOK_SECRET set, each POST carries
``X-Travelbot-Signature: sha256=<hex HMAC-SHA256 of the body>`` so the
receiver can check it came from us. Transient failures (connection errors,
429, 5xx) are retried with backoff (tenacity); a handoff whose notification
still fails is recorded as failed and not retried forever.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import threading
from typing import Any, Dict, List, Optional

import requests
import sqlalchemy as sa
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from travelbot.casework import aware
from travelbot.handoffs import handoffs, metadata
from travelbot.schema import ensure_schema

logger = logging.getLogger(__name__)
TIMEOUT_S = 10.0

notifications = sa.Table(
    "handoff_notifications",
    metadata,
    sa.Column("handoff_id", sa.Integer, primary_key=True),
    sa.Column("outcome", sa.String(255), nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
)


class Transient(Exception):
    """A failure worth another try."""


def _transient(exc: BaseException) -> bool:
    return isinstance(exc, (Transient, requests.ConnectionError, requests.Timeout))


class Notifier:
    def __init__(
        self,
        engine: sa.engine.Engine,
        webhook_url: str,
        console_url: str,
        secret: Optional[str] = None,
        tries: int = 3,
        backoff_s: float = 0.5,
    ):
        self.engine = engine
        self.webhook_url = webhook_url
        self.console_url = console_url.rstrip("/")
        self.secret = secret
        self.session = requests.Session()
        self.retrying = Retrying(
            stop=stop_after_attempt(tries),
            wait=wait_exponential(multiplier=backoff_s, max=8 * backoff_s),
            retry=retry_if_exception(_transient),
            reraise=True,
        )
        ensure_schema(engine)

    def pending(self) -> List[Dict[str, Any]]:
        done = sa.select(notifications.c.handoff_id)
        query = (
            sa.select(handoffs)
            .where(handoffs.c.status == "waiting", handoffs.c.id.not_in(done))
            .order_by(handoffs.c.urgent.desc(), handoffs.c.id)
        )
        with self.engine.connect() as conn:
            return [dict(row) for row in conn.execute(query).mappings().all()]

    def payload(self, row: Dict[str, Any]) -> Dict[str, Any]:
        return {
            "event": "handoff.created",
            "handoff_id": row["id"],
            "channel": row["channel"],
            "reason": row["reason"],
            "urgent": bool(row["urgent"]),
            "created_at": aware(row["created_at"]).isoformat(),
            "console_url": f"{self.console_url}/handoffs/{row['id']}",
        }

    def _post(self, body: bytes) -> None:
        headers = {"Content-Type": "application/json"}
        if self.secret:
            digest = hmac.new(self.secret.encode(), body, hashlib.sha256).hexdigest()
            headers["X-Travelbot-Signature"] = f"sha256={digest}"
        reply = self.session.post(self.webhook_url, data=body, headers=headers, timeout=TIMEOUT_S)
        if reply.status_code == 429 or reply.status_code >= 500:
            raise Transient(f"HTTP {reply.status_code}")
        if not 200 <= reply.status_code < 300:
            raise requests.HTTPError(f"HTTP {reply.status_code}")

    def run_once(self) -> int:
        """Notify every waiting handoff not notified yet; returns how many were sent."""
        sent = 0
        for row in self.pending():
            body = json.dumps(self.payload(row)).encode("utf-8")
            try:
                self.retrying(self._post, body)
                outcome = "sent"
                sent += 1
            except (Transient, requests.RequestException) as exc:
                outcome = f"failed: {exc}"[:255]
                logger.error("notification of handoff %s failed: %s", row["id"], exc)
            with self.engine.begin() as conn:
                conn.execute(
                    notifications.insert().values(
                        handoff_id=row["id"], outcome=outcome, at=dt.datetime.now(dt.timezone.utc)
                    )
                )
        return sent

    def start(self, every_s: float) -> threading.Thread:
        """Run in a daemon thread of the console process until it exits."""

        def loop() -> None:
            stop = threading.Event()
            while not stop.wait(every_s):
                try:
                    self.run_once()
                except Exception:  # keep notifying after a database hiccup
                    logger.exception("notification round failed")

        thread = threading.Thread(target=loop, name="handoff-notifier", daemon=True)
        thread.start()
        return thread
