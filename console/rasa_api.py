"""The Rasa server's HTTP API, as the console uses it: read a tracker, append events.

The transcript (and every traveler message that arrives while a conversation
is handed off: Rasa records user events of a paused conversation) is read from
the tracker, so the console never keeps a second copy that could drift.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Dict, List, Optional
from urllib.parse import quote

import requests

TIMEOUT_S = 15.0
PATH_SAFE = "+:@!$&'()*,;=-._~"


class RasaApiError(Exception):
    """The Rasa server could not be reached or refused the call."""


@dataclass(frozen=True)
class Line:
    """One transcript line: who said it ("traveler", "bot" or "agent"), what, when."""

    role: str
    text: str
    time: float
    agent: Optional[str] = None

    def to_json(self) -> Dict[str, Any]:
        return {"role": self.role, "text": self.text, "time": self.time, "agent": self.agent}


def transcript(events: List[Dict[str, Any]]) -> List[Line]:
    """User and bot text events in order; bot events carrying metadata.agent are the agent's."""
    lines: List[Line] = []
    for event in events:
        text = event.get("text")
        if event.get("event") not in ("user", "bot") or not isinstance(text, str) or not text:
            continue
        when = float(event.get("timestamp") or 0.0)
        if event["event"] == "user":
            lines.append(Line("traveler", text, when))
            continue
        agent = (event.get("metadata") or {}).get("agent")
        lines.append(Line("agent", text, when, str(agent)) if agent else Line("bot", text, when))
    return lines


class RasaApi:
    def __init__(self, base_url: str, token: str, session: Optional[requests.Session] = None):
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.session = session or requests.Session()

    def _url(self, conversation_id: str, tail: str) -> str:
        # Rasa (sanic) does not percent-decode this path segment, so characters that are legal in a
        # path stay as they are ("+15551234567", "whatsapp:+1..."); only the rest is quoted.
        return f"{self.base_url}/conversations/{quote(conversation_id, safe=PATH_SAFE)}/{tail}"

    def _call(self, method: str, url: str, **kwargs: Any) -> Any:
        params = dict(kwargs.pop("params", {}), token=self.token)
        try:
            reply = self.session.request(method, url, params=params, timeout=TIMEOUT_S, **kwargs)
        except requests.RequestException as exc:
            raise RasaApiError(f"Rasa server unreachable: {type(exc).__name__}") from exc
        if reply.status_code != 200:
            raise RasaApiError(f"Rasa server answered HTTP {reply.status_code}")
        return reply.json()

    def events(self, conversation_id: str) -> List[Dict[str, Any]]:
        """Every event of the conversation, including those before a restart."""
        state = self._call("GET", self._url(conversation_id, "tracker"), params={"include_events": "ALL"})
        return list(state.get("events") or [])

    def append(self, conversation_id: str, events: List[Dict[str, Any]]) -> None:
        self._call("POST", self._url(conversation_id, "tracker/events"), json=events)

    def record_agent_reply(self, conversation_id: str, agent: str, text: str) -> None:
        """The agent's reply as a bot event, marked as the agent's so nobody mistakes it for the bot's."""
        event = {"event": "bot", "text": text, "timestamp": time.time(), "metadata": {"agent": agent}}
        self.append(conversation_id, [event])

    def hand_back(self, conversation_id: str) -> None:
        """Resume the conversation on a fresh start: the next message opens a new session.

        ``restart`` drops everything before it from what the policies see (the
        agent's part included) and un-pauses the tracker; the next message then
        runs action_session_start like a new visitor's first message.
        """
        now = time.time()
        events = [{"event": "resume", "timestamp": now}, {"event": "restart", "timestamp": now}]
        self.append(conversation_id, events)
