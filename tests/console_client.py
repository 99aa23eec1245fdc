"""A staff agent driving the running console over HTTP (for tests and bench/handoff_latency.py)."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, TypeVar

import requests

T = TypeVar("T")
_TOKEN = re.compile(r'name="(?:[a-z]+-)?csrf_token" (?:type="hidden" )?value="([^"]+)"')
_FLASH = re.compile(r'<p class="flash (\w+)">([^<]*)</p>')


def wait_for(what: str, probe: Callable[[], Optional[T]], limit_s: float = 120.0, every_s: float = 0.2) -> T:
    """Poll ``probe`` until it returns something truthy (a wait on a busy machine, not an assertion)."""
    deadline = time.monotonic() + limit_s
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(every_s)


@dataclass
class Agent:
    url: str
    name: str
    password: str
    session: requests.Session = field(default_factory=requests.Session)

    def _token(self, path: str) -> str:
        page = self.session.get(self.url + path, timeout=30)
        found = _TOKEN.search(page.text)
        assert found, page.text[:1000]
        return found.group(1)

    def login(self) -> None:
        token = self._token("/login")
        reply = self.session.post(
            self.url + "/login",
            data={"name": self.name, "password": self.password, "csrf_token": token},
            allow_redirects=False,
            timeout=30,
        )
        assert reply.status_code == 302, reply.text[:500]

    def inbox(self, view: str = "waiting") -> List[Dict[str, Any]]:
        reply = self.session.get(self.url + "/api/inbox", params={"view": view}, timeout=30)
        reply.raise_for_status()
        return list(reply.json()["cases"])

    def case_for(self, conversation_id: str, view: str = "waiting") -> Optional[Dict[str, Any]]:
        return next((c for c in self.inbox(view) if c["conversation_id"] == conversation_id), None)

    def state(self, handoff_id: int) -> Dict[str, Any]:
        reply = self.session.get(f"{self.url}/api/handoffs/{handoff_id}", timeout=60)
        reply.raise_for_status()
        return dict(reply.json())

    def act(self, handoff_id: int, action: str, text: Optional[str] = None) -> List[str]:
        """POST one of the conversation's forms; returns the flashed messages shown afterwards."""
        data = {"csrf_token": self._token(f"/handoffs/{handoff_id}")}
        if text is not None:
            data[f"{'note' if action == 'note' else 'reply'}-text"] = text
        reply = self.session.post(f"{self.url}/handoffs/{handoff_id}/{action}", data=data, timeout=120)
        reply.raise_for_status()
        return [message for _, message in _FLASH.findall(reply.text)]
