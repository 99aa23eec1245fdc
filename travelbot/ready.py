"""Waits until both servers answer, then prints the URLs to open (run by launch)."""

from __future__ import annotations

import signal
import sys
import time
import urllib.error
import urllib.request

from travelbot.settings import load_settings

TIMEOUT_S = 300


def _up(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as reply:
            return bool(reply.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def main() -> int:
    server = load_settings().server
    base = f"http://{server.host}:{server.rasa_port}"
    checks = [f"{base}/webhooks/rest/", f"http://{server.host}:{server.actions_port}/health"]
    started = time.monotonic()
    while not all(_up(url) for url in checks):
        if time.monotonic() - started > TIMEOUT_S:
            print("the servers did not come up; see the log above", file=sys.stderr)
            return 1
        time.sleep(0.5)
    print(f"traveler-chatbot is ready after {time.monotonic() - started:.1f} s")
    print(f"  web chat:      {base}/webhooks/webchat/chat")
    print(f'  REST channel:  POST {base}/webhooks/rest/webhook  {{"sender": "...", "message": "..."}}')
    print("  Ctrl-C stops everything.", flush=True)
    signal.pause()  # honcho stops every process when one exits: stay until Ctrl-C
    return 0


if __name__ == "__main__":
    sys.exit(main())
