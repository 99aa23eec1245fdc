"""Facebook Messenger channel: Meta's webhook in, the Graph Send API out.

Rasa's built-in Messenger channel answers 200 to a bad signature and compares
signatures in non-constant time; this one checks ``X-Hub-Signature-256`` with
``hmac.compare_digest`` before reading the body and answers 403 when it is
missing or wrong. A valid post is answered 200 at once (Meta retries slow
webhooks) and its events are handled in the background, one task per sender so
a traveler's messages keep their order. Redeliveries are dropped by message id
(``mid``) through the durable delivery log.

Over the per-sender limit (channels/rate_limit.py) an event is not passed to
Rasa; the sender gets one short notice per window. Bodies are read as a stream
and refused with 413 past MAX_BODY_BYTES (channels/rest.py ``read_body``).

With no FB_* variable set the channel still loads (so ``make run`` works
without a Facebook app) and its webhook answers 503 "channel not configured".
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Dict, List, Mapping, Optional, Set, Tuple

from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from channels import rate_limit
from channels.messenger_api import GraphClient, MessengerConfig, quick_replies
from channels.rest import MAX_MESSAGE_CHARS, BadRequest, read_body, read_json_object
from channels.silence import UNAVAILABLE_TEXT, failed_silently, tracker_store_of
from travelbot.deliveries import DeliveryLog, first_delivery

logger = logging.getLogger(__name__)

CHANNEL = "messenger"
MAX_BODY_BYTES = 1024 * 1024
SIGNATURE_HEADER = "X-Hub-Signature-256"
ATTACHMENT_REPLY = (
    "Thanks! I can only read typed messages, so I can't open photos, videos, stickers or files. "
    'Please type your question, for example: "Can I bring a power bank?"'
)
CHOICE_HINT = "Tap a choice or type its number."

OnNewMessage = Callable[[UserMessage], Awaitable[Any]]


def _default_deliveries() -> DeliveryLog:
    from travelbot import runtime  # imported late: runtime pulls in the knowledge base modules

    return runtime.delivery_log()


def signature_ok(app_secret: str, raw: bytes, header: Optional[str]) -> bool:
    """Whether ``header`` is "sha256=" + HMAC-SHA256(app secret, raw body), in constant time."""
    if not header:
        return False
    expected = "sha256=" + hmac.new(app_secret.encode("utf-8"), raw, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode("ascii"), header.strip().encode("utf-8", "replace"))


@dataclass(frozen=True)
class Event:
    """One traveler event worth acting on: text (or a tapped payload) for Rasa, or attachments only."""

    sender: str
    delivery_id: str
    text: str
    attachment_only: bool = False
    metadata: Dict[str, Any] = field(default_factory=dict)


def _event(item: Any, page_id: Optional[str]) -> Optional[Event]:
    """The event to act on, or None for echoes, delivery and read receipts and anything else."""
    if not isinstance(item, dict):
        return None
    sender = (item.get("sender") or {}).get("id") if isinstance(item.get("sender"), dict) else None
    if not isinstance(sender, (str, int)) or not str(sender).strip():
        return None
    sender = str(sender).strip()
    meta: Dict[str, Any] = {"page_id": page_id, "timestamp": item.get("timestamp")}
    message, postback = item.get("message"), item.get("postback")
    if isinstance(message, dict):
        mid = message.get("mid")
        if message.get("is_echo") or not isinstance(mid, str) or not mid:
            return None
        quick = message.get("quick_reply")
        payload = quick.get("payload") if isinstance(quick, dict) else None
        text = payload if isinstance(payload, str) and payload else message.get("text")
        if isinstance(text, str) and text.strip():
            return Event(sender, mid, text[:MAX_MESSAGE_CHARS], metadata=dict(meta, mid=mid))
        if message.get("attachments"):
            return Event(sender, mid, "", attachment_only=True, metadata=dict(meta, mid=mid))
        return None
    if isinstance(postback, dict) and isinstance(postback.get("payload"), str) and postback["payload"]:
        mid = postback.get("mid")
        delivery_id = mid if isinstance(mid, str) and mid else f"postback:{sender}:{item.get('timestamp')}"
        return Event(
            sender, delivery_id, postback["payload"][:MAX_MESSAGE_CHARS], metadata=dict(meta, mid=mid)
        )
    return None


def parse_events(raw: bytes) -> Tuple[List[Event], int]:
    """The events of a webhook body and how many were ignored; BadRequest with a reason if malformed."""
    body = read_json_object(raw, MAX_BODY_BYTES)
    entries = body.get("entry")
    if not isinstance(entries, list):
        raise BadRequest("'entry' must be a list")
    if body.get("object") != "page":
        logger.info("ignoring a webhook for object %r", body.get("object"))
        return [], sum(
            len(e["messaging"])
            for e in entries
            if isinstance(e, dict) and isinstance(e.get("messaging"), list)
        )
    events: List[Event] = []
    ignored = 0
    for entry in entries:
        if not isinstance(entry, dict):
            raise BadRequest("each 'entry' item must be a JSON object")
        messaging = entry.get("messaging", [])
        if not isinstance(messaging, list):
            raise BadRequest("'messaging' must be a list")
        page_id = str(entry["id"]) if entry.get("id") is not None else None
        for item in messaging:
            event = _event(item, page_id)
            if event is None:
                ignored += 1
            else:
                events.append(event)
    return events, ignored


class MessengerOutput(OutputChannel):
    """Turns the bot's messages into Send API calls; the custom dict is read, never sent."""

    def __init__(self, client: GraphClient):
        self.client = client
        self.sent = 0  # texts sent: none in a turn outside a handoff means the assistant failed

    @classmethod
    def name(cls) -> str:
        return CHANNEL

    async def send_response(self, recipient_id: str, message: Dict[str, Any]) -> None:
        text = str(message.get("text") or "").strip()
        buttons = message.get("quick_replies") or message.get("buttons") or []
        custom = message.get("custom")
        custom = custom if isinstance(custom, dict) else {}
        if buttons:
            listed = "\n".join(f"{n}. {b.get('title', '')}" for n, b in enumerate(buttons, start=1))
            text = f"{text}\n\n{listed}\n\n{CHOICE_HINT}".strip()
        source = custom.get("source_url") if custom.get("decision") == "answer" else None
        if text and source:
            text = f"{text}\n\nSource: {source}"
        if text:
            await self.client.send_text(recipient_id, text, replies=quick_replies(buttons))
            self.sent += 1
        for ignored in ("image", "attachment", "elements"):
            if message.get(ignored):
                logger.warning("Messenger output: %s messages are not supported; not sent", ignored)

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        await self.client.send_text(recipient_id, text)
        self.sent += 1

    async def send_custom_json(self, recipient_id: str, json_message: Dict[str, Any], **kwargs: Any) -> None:
        """Our custom dict carries metadata for the REST clients; a traveler never sees it."""


class MessengerWebhook:
    """The webhook's logic, apart from sanic so it can be tested directly."""

    def __init__(
        self,
        config: Optional[MessengerConfig],
        deliveries: Callable[[], DeliveryLog] = _default_deliveries,
        client: Optional[GraphClient] = None,
        limit: Optional[rate_limit.SenderLimit] = None,
    ):
        self.config = config
        self.deliveries = deliveries
        self.client = client or (GraphClient(config) if config else None)
        self.limit = limit or rate_limit.sender_limit()
        self._tasks: Set[asyncio.Task] = set()

    def verify(self, args: Mapping[str, str]) -> Tuple[int, str]:
        """Meta's subscription handshake: echo hub.challenge when the verify token matches."""
        if self.config is None:
            return 503, "channel not configured"
        token = args.get("hub.verify_token") or ""
        expected = self.config.verify_token.get_secret_value()
        if args.get("hub.mode") == "subscribe" and hmac.compare_digest(
            token.encode("utf-8"), expected.encode("utf-8")
        ):
            return 200, args.get("hub.challenge") or ""
        return 403, "verification failed"

    async def receive(
        self,
        raw: bytes,
        signature: Optional[str],
        on_new_message: OnNewMessage,
        tracker_store: Optional[Any] = None,
    ) -> Tuple[int, Dict[str, Any]]:
        """Check, parse, deduplicate and schedule a webhook post; (status, JSON body).

        ``tracker_store``: the Rasa server's, to tell a failed turn from a handoff (channels/silence.py).
        """
        if self.config is None or self.client is None:
            return 503, {"error": "channel not configured"}
        if not signature_ok(self.config.app_secret.get_secret_value(), raw, signature):
            return 403, {"error": f"missing or invalid {SIGNATURE_HEADER}"}
        try:
            events, ignored = parse_events(raw)
        except BadRequest as exc:
            return exc.status, {"error": exc.reason}
        fresh: Dict[str, List[Event]] = defaultdict(list)
        duplicates = 0
        for event in events:
            if await first_delivery(self.deliveries, CHANNEL, event.delivery_id):
                fresh[event.sender].append(event)
            else:
                duplicates += 1
        for sender_events in fresh.values():
            task = asyncio.create_task(self._handle(sender_events, on_new_message, tracker_store))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        accepted = sum(len(v) for v in fresh.values())
        return 200, {"accepted": accepted, "duplicates": duplicates, "ignored": ignored}

    async def _handle(
        self, events: List[Event], on_new_message: OnNewMessage, tracker_store: Optional[Any] = None
    ) -> None:
        assert self.client is not None
        for event in events:
            output = MessengerOutput(self.client)
            try:
                admission = await self.limit.admit(CHANNEL, event.sender)
                if not admission.allowed:
                    logger.info("Messenger: %s over the rate limit; not processed", event.delivery_id)
                    if admission.verdict is rate_limit.Verdict.NOTIFY:
                        await self.client.send_text(event.sender, rate_limit.LIMITED_TEXT)
                    continue
                if event.attachment_only:
                    await self.client.send_text(event.sender, ATTACHMENT_REPLY)
                    continue
                await on_new_message(
                    UserMessage(
                        event.text, output, event.sender, input_channel=CHANNEL, metadata=event.metadata
                    )
                )
                if not output.sent and await failed_silently(tracker_store, event.sender):
                    logger.error("Messenger: no reply to %s (is the action server down?)", event.delivery_id)
                    await self.client.send_text(event.sender, UNAVAILABLE_TEXT)
            except Exception:
                logger.exception(
                    "failed to handle Messenger message %s from %s", event.delivery_id, event.sender
                )
                await self._apologise(event.sender)

    async def _apologise(self, sender: str) -> None:
        assert self.client is not None
        try:
            await self.client.send_text(sender, UNAVAILABLE_TEXT)
        except Exception:
            logger.exception("could not send the apology to a Messenger sender either")

    async def drain(self) -> None:
        """Wait for the events scheduled so far (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)


class MessengerInput(InputChannel):
    """Serves /webhooks/messenger/webhook (GET handshake, POST events)."""

    def __init__(self, config: Optional[MessengerConfig], limit: Optional[rate_limit.SenderLimit] = None):
        self.webhook = MessengerWebhook(config, limit=limit)

    @classmethod
    def name(cls) -> str:
        return CHANNEL

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[str, Any]]) -> InputChannel:
        """Reads FB_* from the environment; a partial set stops the server here, naming what is missing."""
        config = MessengerConfig.from_env()
        if config is None:
            logger.warning(
                "Messenger channel not configured (FB_VERIFY_TOKEN, FB_APP_SECRET, FB_PAGE_ACCESS_TOKEN "
                "unset): /webhooks/messenger/webhook answers 503"
            )
        return cls(config)

    def get_output_channel(self) -> Optional[OutputChannel]:
        client = self.webhook.client
        return MessengerOutput(client) if client else None

    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        hook = Blueprint(f"{self.name()}_webhook", __name__)

        @hook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok", "configured": self.webhook.config is not None})

        @hook.route("/webhook", methods=["GET"])
        async def verify(request: Request) -> HTTPResponse:
            args = {key: request.args.get(key) for key in request.args}
            status, body = self.webhook.verify(args)
            return response.text(body, status=status)

        @hook.route("/webhook", methods=["POST"], stream=True)
        async def receive(request: Request) -> HTTPResponse:
            try:
                raw = await read_body(request, MAX_BODY_BYTES)
            except BadRequest as exc:
                return response.json({"error": exc.reason}, status=exc.status)
            signature = request.headers.get(SIGNATURE_HEADER)
            store = tracker_store_of(request.app)
            status, body = await self.webhook.receive(raw, signature, on_new_message, store)
            return response.json(body, status=status)

        return hook
