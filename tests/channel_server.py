"""Traveler channels served over real HTTP inside the test process, and what stands around them.

``ChannelServer`` mounts input channels' blueprints the way Rasa does
(/webhooks/<channel>/) on a Sanic server in a thread, so requests go through
Sanic's real HTTP handling (streamed bodies, size limits, error pages). Behind
the channels stands ``Rasa``, a recorder that answers every message "ok";
``FakeGraph`` stands in for Meta's Send API on a local port.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import uuid
from http.server import ThreadingHTTPServer
from typing import Any, List, Optional, Sequence

from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Sanic

from tests import messenger_payloads as fb
from tests.provider_stub import JsonHandler

START_TIMEOUT_S = 60
CALL_TIMEOUT_S = 60


class Rasa:
    """Stands where Rasa's agent would: records each message and answers it "ok"."""

    def __init__(self) -> None:
        self.messages: List[UserMessage] = []

    async def __call__(self, message: UserMessage) -> None:
        self.messages.append(message)
        await message.output_channel.send_text_message(message.sender_id, "ok")


class FakeGraph:
    """graph.facebook.com's Send API on a local port: every send succeeds, as Meta's recorded reply."""

    def __init__(self) -> None:
        class Handler(JsonHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self._reply(200, fb.load("send_ok"))

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v19.0"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class ChannelServer:
    """Input channels' blueprints served by Sanic on a free local port, in a thread of this process."""

    def __init__(self, channels: Sequence[InputChannel], rasa: Rasa, app: Optional[Sanic] = None) -> None:
        """Serves ``channels`` with ``rasa`` behind them, or ``app`` as it is (e.g. Rasa's own)."""
        self.app = app or Sanic(f"channels-{uuid.uuid4().hex[:8]}")
        # Sanic rewrites its own methods at start-up; in test mode from the originals, so that a
        # second server in this process (another test module's) can start too.
        Sanic.test_mode = True  # as sanic-testing does
        for channel in channels:
            self.app.blueprint(channel.blueprint(rasa), url_prefix=f"/webhooks/{channel.name()}")
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = int(probe.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._failure: Optional[BaseException] = None
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        try:
            self._start_and_run()
        except BaseException as exc:  # surfaced by __enter__, not lost in this thread
            self._failure = exc
            self._ready.set()
            raise

    def _start_and_run(self) -> None:
        asyncio.set_event_loop(self.loop)
        starting = self.app.create_server(host="127.0.0.1", port=self.port, return_asyncio_server=True)
        server = self.loop.run_until_complete(starting)
        assert server is not None
        self.loop.run_until_complete(server.startup())
        self.loop.run_until_complete(server.after_start())
        self._ready.set()
        self.loop.run_forever()
        server.close()

    def __enter__(self) -> ChannelServer:
        self._thread.start()
        assert self._ready.wait(START_TIMEOUT_S), "the channel server did not start"
        if self._failure is not None:
            raise RuntimeError("the channel server failed to start") from self._failure
        return self

    def __exit__(self, *exc: Any) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(START_TIMEOUT_S)

    def run(self, coroutine: Any) -> Any:
        """Run ``coroutine`` on the server's event loop (e.g. to wait for background work)."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(CALL_TIMEOUT_S)


class ErrorLog(logging.Handler):
    """Every ERROR (and worse) record of our channels, e.g. an exception a background task swallowed."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: List[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def take(self) -> List[str]:
        found = [f"{r.name}: {r.getMessage()}" for r in self.records]
        self.records.clear()
        return found
