"""REST channel: POST {"sender": "...", "message": "..."} -> list of bot messages.

Rasa's built-in RestInput answers malformed bodies with a 500 or passes a
missing message on as ``None``; this one checks the body first and answers a
400 (or 413) with the reason, so a client always learns what it did wrong.

A sender over the per-sender limit, or a client address over the per-address
limit (channels/rate_limit.py), gets a 429 with the reason and a Retry-After
header; the message never reaches Rasa.

Bodies are read as a stream (``read_body``): Sanic would otherwise buffer a
whole body, up to its server-wide REQUEST_MAX_SIZE (100 MB, also what Rasa's
own API needs for model uploads), before any handler could refuse it. Each
webhook has its own cap and answers 413 with the reason as soon as the
declared or received size passes it.

When the action server is down, Rasa answers the turn with nothing at all;
the traveler gets an apology instead (channels/silence.py).
"""

from __future__ import annotations

import copy
import json
import logging
from asyncio import CancelledError
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Dict, List, Optional

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.exceptions import PayloadTooLarge
from sanic.request import Request
from sanic.response import HTTPResponse

from channels import rate_limit
from channels.silence import UNAVAILABLE_TEXT, failed_silently, tracker_store_of
from travelbot.settings import settings

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
MAX_MESSAGE_CHARS = 20_000
MAX_SENDER_CHARS = 128


class BadRequest(Exception):
    def __init__(self, reason: str, status: int = 400):
        super().__init__(reason)
        self.reason = reason
        self.status = status


@dataclass(frozen=True)
class Incoming:
    sender: str
    text: str
    metadata: Optional[Dict[str, Any]]


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The body of a request to a ``stream=True`` route; BadRequest (413) once it passes ``max_bytes``.

    A request built without a stream (already read) is checked the same way.
    """
    too_large = BadRequest(f"body larger than {max_bytes} bytes", 413)
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > max_bytes:
        raise too_large
    if request.stream is None or request.body:
        body = bytes(request.body or b"")
    else:
        # Sanic enforces this on every read of this request, and on draining what we leave unread.
        request.stream.request_max_size = max_bytes
        try:
            body = b"".join([chunk async for chunk in request.stream])
        except PayloadTooLarge as exc:
            raise too_large from exc
    if len(body) > max_bytes:
        raise too_large
    return body


def read_json_object(raw: bytes, max_bytes: int = MAX_BODY_BYTES) -> Dict[str, Any]:
    """A webhook body as a JSON object; BadRequest (400/413) with a reason for anything else."""
    if len(raw) > max_bytes:
        raise BadRequest(f"body larger than {max_bytes} bytes", 413)
    try:
        body = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise BadRequest("body is not UTF-8") from exc
    except json.JSONDecodeError as exc:
        raise BadRequest(f"body is not valid JSON: {exc.msg} at position {exc.pos}") from exc
    except ValueError as exc:  # e.g. an integer of more than 4300 digits (CPython's conversion limit)
        raise BadRequest(f"body is not usable JSON: {exc}") from exc
    except RecursionError as exc:  # arrays or objects nested deeper than the parser's recursion limit
        raise BadRequest("body is not usable JSON: nested too deeply") from exc
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object")
    return body


def parse_body(raw: bytes) -> Incoming:
    """Validate a REST body; raises BadRequest with a reason a client can act on."""
    body = read_json_object(raw)
    sender, text, metadata = body.get("sender"), body.get("message"), body.get("metadata")
    if not isinstance(sender, str) or not sender.strip():
        raise BadRequest("'sender' must be a non-empty string")
    if len(sender) > MAX_SENDER_CHARS:
        raise BadRequest(f"'sender' is longer than {MAX_SENDER_CHARS} characters")
    if not isinstance(text, str):
        raise BadRequest("'message' must be a string")
    if len(text) > MAX_MESSAGE_CHARS:
        raise BadRequest(f"'message' is longer than {MAX_MESSAGE_CHARS} characters", 413)
    if metadata is not None and not isinstance(metadata, dict):
        raise BadRequest("'metadata' must be a JSON object when given")
    return Incoming(sender.strip(), text, metadata)


def unavailable_reply(sender: str) -> List[Dict[str, Any]]:
    """The apology turn, shaped as Rasa's own (text, then the custom dict clients read)."""
    custom = {"decision": "error", "reason": "assistant_unavailable"}
    return [{"recipient_id": sender, "text": UNAVAILABLE_TEXT}, {"recipient_id": sender, "custom": custom}]


class RestChannel(InputChannel):
    def __init__(
        self,
        limit: Optional[rate_limit.SenderLimit] = None,
        address_limit: Optional[rate_limit.SenderLimit] = None,
        trusted_proxies: Optional[int] = None,
    ) -> None:
        self.limit = limit or rate_limit.sender_limit()
        self.address_limit = address_limit or rate_limit.address_limit()
        self.trusted_proxies = (
            settings().rate_limit.trusted_proxies if trusted_proxies is None else trusted_proxies
        )

    @classmethod
    def name(cls) -> str:
        return "rest"

    async def refused(self, request: Request, sender: str) -> Optional[HTTPResponse]:
        """A 429 with the reason when the client's address or the sender is over its limit."""
        address = rate_limit.client_address(
            request.conn_info.client_ip if request.conn_info else "",
            request.headers.get("X-Forwarded-For"),
            self.trusted_proxies,
        )
        checks = (
            (self.address_limit, f"{self.name()}-address", address, "this network address"),
            (self.limit, self.name(), sender, "this sender"),
        )
        for limit, counter, key, who in checks:
            admission = await limit.admit(counter, key)
            if not admission.allowed:
                wait_s = admission.retry_after_s
                reason = f"too many messages from {who}; please wait {wait_s} s, then try again"
                return response.json({"error": reason}, status=429, headers={"Retry-After": str(wait_s)})
        return None

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        webhook = Blueprint(f"{self.name()}_webhook", __name__)

        @webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @webhook.route("/webhook", methods=["POST"], stream=True)
        async def receive(request: Request) -> HTTPResponse:
            try:
                incoming = parse_body(await read_body(request, MAX_BODY_BYTES))
            except BadRequest as exc:
                return response.json({"error": exc.reason}, status=exc.status)
            refusal = await self.refused(request, incoming.sender)
            if refusal is not None:
                return refusal
            collector = CollectingOutputChannel()
            message = UserMessage(
                incoming.text,
                collector,
                incoming.sender,
                input_channel=self.name(),
                metadata=incoming.metadata,
            )
            try:
                await on_new_message(message)
            except CancelledError:
                logger.error("timed out handling a message from %s", incoming.sender)
                return response.json({"error": "the assistant timed out; please try again"}, status=503)
            except Exception:
                logger.exception("failed to handle %r", copy.deepcopy(incoming.text[:200]))
                return response.json({"error": "the assistant failed on this message"}, status=503)
            if not collector.messages and await failed_silently(
                tracker_store_of(request.app), incoming.sender
            ):
                logger.error("no reply for %s (is the action server down?): sent an apology", incoming.sender)
                return response.json(unavailable_reply(incoming.sender))
            return response.json(collector.messages)

        self.extra_routes(webhook)
        return webhook

    def extra_routes(self, webhook: Blueprint) -> None:
        """Hook for channels that serve more than the webhook (the web chat page)."""
