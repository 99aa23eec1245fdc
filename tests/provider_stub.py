"""The base of every local stand-in for a provider's API (Twilio, Meta): JSON replies, no request log."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler
from typing import Any, Dict


class JsonHandler(BaseHTTPRequestHandler):
    # Keeps the connection open between requests, as Twilio's and Meta's APIs do: with HTTP/1.0 every
    # message sent would also pay for a new TCP connection, which the real services do not charge.
    # Every reply has a Content-Length and every handler reads the whole request body.
    protocol_version = "HTTP/1.1"
    # A reply is written in two sends (headers, then body). With Nagle's algorithm on, the body waits
    # for the client to acknowledge the headers, which a client delays by up to 40 ms: every message
    # sent through a stand-in took 40 ms longer than through the real API (TCP_NODELAY, as real servers).
    disable_nagle_algorithm = True

    def _reply(self, status: int, payload: Dict[str, Any]) -> None:
        data = json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass
