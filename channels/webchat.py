"""Web chat: the REST webhook plus the chat page that talks to it.

The page and its script are served from ``webchat_static/`` by the Rasa
server itself (no CDN, no extra process): open /webhooks/webchat/.
"""

from __future__ import annotations

from pathlib import Path

from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from channels.rest import RestChannel

STATIC_DIR = Path(__file__).resolve().parent / "webchat_static"
CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript", ".css": "text/css"}


class WebChatInput(RestChannel):
    @classmethod
    def name(cls) -> str:
        return "webchat"

    def extra_routes(self, webhook: Blueprint) -> None:
        @webhook.route("/chat", methods=["GET"])
        async def page(_: Request) -> HTTPResponse:
            return await response.file(STATIC_DIR / "index.html", mime_type=CONTENT_TYPES[".html"])

        @webhook.route("/static/<name>", methods=["GET"])
        async def static(_: Request, name: str) -> HTTPResponse:
            path = (STATIC_DIR / name).resolve()
            if path.parent != STATIC_DIR or path.suffix not in CONTENT_TYPES or not path.is_file():
                return response.json({"error": "not found"}, status=404)
            return await response.file(path, mime_type=CONTENT_TYPES[path.suffix])
