"""REST channel: POST {"sender": "...", "message": "..."} -> list of bot messages.

Rasa's built-in RestInput answers malformed bodies with a 500 or passes a
missing message on as ``None``; this one checks the body first and answers a
400 (or 413) with the reason, so a client always learns what it did wrong.

When the action server is down, Rasa logs the failed action and answers the
turn with nothing at all (200, ``[]``). Every intent of this bot leads to
``action_respond``, which always utters, so an empty turn in a conversation
that is not paused (paused: handed to a person, who replies) means the
assistant failed: the traveler gets an apology instead of silence.
"""

from __future__ import annotations

import copy
import json
import logging
from asyncio import CancelledError
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Dict, List, Optional

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from sanic import Blueprint, Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
MAX_MESSAGE_CHARS = 20_000
MAX_SENDER_CHARS = 128
UNAVAILABLE_TEXT = (
    "Sorry, something went wrong on my side and I could not answer that. "
    "Please try again in a minute, or ask for a person."
)


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


async def failed_silently(app: Sanic, sender: str) -> bool:
    """True when an empty turn means the assistant failed, not that a person has the conversation."""
    tracker = await app.ctx.agent.tracker_store.retrieve(sender)
    return tracker is None or not tracker.is_paused()


def unavailable_reply(sender: str) -> List[Dict[str, Any]]:
    """The apology turn, shaped as Rasa's own (text, then the custom dict clients read)."""
    custom = {"decision": "error", "reason": "assistant_unavailable"}
    return [{"recipient_id": sender, "text": UNAVAILABLE_TEXT}, {"recipient_id": sender, "custom": custom}]


class RestChannel(InputChannel):
    @classmethod
    def name(cls) -> str:
        return "rest"

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        webhook = Blueprint(f"{self.name()}_webhook", __name__)

        @webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            try:
                incoming = parse_body(request.body or b"")
            except BadRequest as exc:
                return response.json({"error": exc.reason}, status=exc.status)
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
            if not collector.messages and await failed_silently(request.app, incoming.sender):
                logger.error("no reply for %s (is the action server down?): sent an apology", incoming.sender)
                return response.json(unavailable_reply(incoming.sender))
            return response.json(collector.messages)

        self.extra_routes(webhook)
        return webhook

    def extra_routes(self, webhook: Blueprint) -> None:
        """Hook for channels that serve more than the webhook (the web chat page)."""
