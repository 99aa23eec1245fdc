"""Web chat: the REST webhook, the chat page that talks to it, and answer feedback.

The page and its script are served from ``webchat_static/`` by the Rasa
server itself (no CDN, no extra process): open /webhooks/webchat/chat. A
Content-Security-Policy that allows only this server's own files backs up the
page's rule of rendering every message with textContent.

Thumbs up/down votes arrive at POST /webhooks/webchat/feedback and are stored
durably (travelbot.feedback) for the corpus editors.

While a person has the conversation, the page polls
GET /webhooks/webchat/updates?sender=...&after=N for the agent's replies
(travelbot.casework keeps them; the staff console writes them). Bodies are checked like
channels/rest.py checks messages: a bad one gets a 400 with the reason.
"""

from __future__ import annotations

import asyncio
import logging
import re
from pathlib import Path
from typing import Any, Awaitable, Callable, FrozenSet, Optional, Tuple

from rasa.core.channels.channel import UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from sqlalchemy.exc import SQLAlchemyError

from channels.rest import (
    MAX_BODY_BYTES,
    MAX_MESSAGE_CHARS,
    MAX_SENDER_CHARS,
    BadRequest,
    RestChannel,
    read_body,
    read_json_object,
)
from knowledge.corpus import entry_files
from travelbot import runtime
from travelbot.casework import CaseStore
from travelbot.feedback import FeedbackStore, Vote

logger = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "webchat_static"
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
MAX_ENTRY_ID_CHARS = 255
# ASCII digits only (str.isdigit also accepts "²", which int() refuses), and few enough for a 64-bit column.
AFTER_ID = re.compile(r"[0-9]{1,18}")


def parse_feedback(raw: bytes) -> Vote:
    """Validate a feedback body {sender, entry_id, helpful, question?}; raises BadRequest."""
    body = read_json_object(raw)
    sender, entry_id, helpful = body.get("sender"), body.get("entry_id"), body.get("helpful")
    question = body.get("question")
    if not isinstance(sender, str) or not sender.strip():
        raise BadRequest("'sender' must be a non-empty string")
    if len(sender) > MAX_SENDER_CHARS:
        raise BadRequest(f"'sender' is longer than {MAX_SENDER_CHARS} characters")
    if not isinstance(entry_id, str) or not entry_id.strip():
        raise BadRequest("'entry_id' must be a non-empty string")
    if len(entry_id) > MAX_ENTRY_ID_CHARS:
        raise BadRequest(f"'entry_id' is longer than {MAX_ENTRY_ID_CHARS} characters")
    if not isinstance(helpful, bool):
        raise BadRequest("'helpful' must be true or false")
    if question is not None and not isinstance(question, str):
        raise BadRequest("'question' must be a string when given")
    if question is not None and len(question) > MAX_MESSAGE_CHARS:
        raise BadRequest(f"'question' is longer than {MAX_MESSAGE_CHARS} characters", 413)
    return Vote(
        sender=sender.strip(),
        entry_id=entry_id.strip(),
        helpful=helpful,
        question=(question or "").strip() or None,
        channel=WebChatInput.name(),
    )


def known_entry_ids() -> FrozenSet[str]:
    """Ids of the corpus entries: the corpus requires each file to be named ``<id>.yml``.

    Reading file names instead of parsing every entry keeps a vote fast (parsing
    the corpus takes seconds) and always current.
    """
    return frozenset(path.stem for path in entry_files())


class WebChatInput(RestChannel):
    @classmethod
    def name(cls) -> str:
        return "webchat"

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        # Open the store now, so a storage misconfiguration (e.g. an unset
        # $TRAVELBOT_DATABASE_URL) stops the server at start, not at the first vote.
        self._feedback: FeedbackStore = runtime.feedback_store()
        self._cases = CaseStore(runtime.handoff_store().engine)
        return super().blueprint(on_new_message)

    def extra_routes(self, webhook: Blueprint) -> None:
        @webhook.route("/chat", methods=["GET"])
        async def page(_: Request) -> HTTPResponse:
            return await response.file(
                STATIC_DIR / "index.html", mime_type=CONTENT_TYPES[".html"], headers=SECURITY_HEADERS
            )

        @webhook.route("/static/<name>", methods=["GET"])
        async def static(_: Request, name: str) -> HTTPResponse:
            path = (STATIC_DIR / name).resolve()
            if path.parent != STATIC_DIR or path.suffix not in CONTENT_TYPES or not path.is_file():
                return response.json({"error": "not found"}, status=404)
            return await response.file(path, mime_type=CONTENT_TYPES[path.suffix], headers=SECURITY_HEADERS)

        @webhook.route("/updates", methods=["GET"])
        async def updates(request: Request) -> HTTPResponse:
            sender, after = request.args.get("sender", ""), request.args.get("after", "0")
            if not sender.strip() or len(sender) > MAX_SENDER_CHARS:
                return response.json({"error": "'sender' must be a non-empty string"}, status=400)
            if not AFTER_ID.fullmatch(after):
                return response.json({"error": "'after' must be a message id (a whole number)"}, status=400)
            loop = asyncio.get_running_loop()
            try:
                found = await loop.run_in_executor(
                    None, self._cases.outbox, self.name(), sender.strip(), int(after)
                )
            except SQLAlchemyError:
                logger.exception("failed to read agent replies for %s", sender)
                return response.json({"error": "replies could not be read; please try again"}, status=503)
            messages = [{"id": m.id, "text": m.text, "time": m.created_at.isoformat()} for m in found]
            return response.json({"messages": messages}, headers={"Cache-Control": "no-store"})

        @webhook.route("/feedback", methods=["POST"], stream=True)
        async def feedback(request: Request) -> HTTPResponse:
            try:
                vote = parse_feedback(await read_body(request, MAX_BODY_BYTES))
            except BadRequest as exc:
                return response.json({"error": exc.reason}, status=exc.status)
            error, status = await self._store(vote)
            if error:
                return response.json({"error": error}, status=status)
            return response.json({"status": "stored", "id": vote.id}, status=status)

    async def _store(self, vote: Vote) -> Tuple[Optional[str], int]:
        """Check the entry exists and record the vote, off the event loop (both touch disk)."""
        loop = asyncio.get_running_loop()
        if vote.entry_id not in await loop.run_in_executor(None, known_entry_ids):
            return f"'entry_id' {vote.entry_id!r} is not a known answer", 400
        try:
            await loop.run_in_executor(None, self._feedback.record, vote)
        except SQLAlchemyError:
            logger.exception("failed to store feedback on %s", vote.entry_id)
            return "feedback could not be saved; please try again", 503
        logger.info("feedback %s on %s: helpful=%s", vote.id, vote.entry_id, vote.helpful)
        return None, 201
