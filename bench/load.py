"""Load: N concurrent conversations x M messages, our assistant next to a bare Rasa bot.

Our servers start exactly as `make run` starts them (tests/servers.py, embedded mode: SQLite tracker,
in-memory lock), with the Twilio SMS channel on and its API replaced by the local stand-in of
tests/twilio_payloads.py, so SMS replies are really sent. A bare Rasa bot (`rasa init --no-prompt`:
the default pipeline and the mood bot, trained once into var/bench/bare/) runs beside it with
`rasa run`. One phase at a time, with all servers up: our REST channel, our signed SMS webhook,
the bare bot's REST channel. Each conversation sends its messages one after another (the next
when the reply is in); the conversations run concurrently.

Lost reply: REST answered 200 with no message; SMS: the webhook returned but the stand-in got no
message for that number (the webhook returns only once the reply was handed to the API, so one
message per webhook call is expected; more is a duplicate). Memory: peak RSS of each server
process (with its children) sampled every 0.2 s during the phase.
Usage: python -m bench.load [--conversations N] [--messages M]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable, Dict, List, Optional, Tuple

import aiohttp
import psutil
import requests

from bench import report, results
from bench.bare_bot import bare_model, bare_server
from bench.results import VAR, save
from tests import twilio_payloads as tw
from tests.servers import start_servers

SMS_PATH = "/webhooks/twilio_sms/webhook"
TIMEOUT_S = 120
# The load's senders type faster than any traveler (up to a message every 0.4 s each), all from one
# address: the rate limits would answer most of them with 429 and measure the limiter instead.
UNLIMITED = {"rate_limit": {"per_sender": "100000/minute", "per_client_address": "100000/minute"}}
TARGETS = {"p50_ms": 40.0, "p95_ms": 100.0, "throughput": 50.0, "errors": 0, "lost": 0}
# Screening questions a traveler might send; none asks for a person (a handoff pauses the
# conversation, and later messages are then answered by an agent, not the bot).
QUESTIONS = [
    "can i bring my power bank in checked luggage",
    "is a pocket knife ok in carry on",
    "do i need a real id to fly",
    "how much shampoo can i take on the plane",
    "hello",
    "can i bring a bottle of wine in my checked bag",
    "are laptops allowed in my carry-on",
    "can I take breast milk through security",
    "is peanut butter a liquid",
    "can i fly with my cat",
    "what about lighters",
    "can i pack a razor",
    "can i bring my insulin pump",
    "do i have to take off my shoes",
    "is a snow globe allowed",
    "can i take an e-cigarette on the plane",
    "thanks",
    "can kids fly without id",
    "how do i make banana bread",
    "are knitting needles ok in carry on bags",
    "can i bring baby formula",
    "may I carry a cane through the checkpoint",
    "is dry ice allowed",
    "can I bring sunscreen",
]


@dataclass
class Phase:
    """One load phase's raw observations; ``summary()`` turns them into the reported figures."""

    name: str
    latencies_ms: List[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    lost: int = 0
    duplicates: int = 0
    decisions: Counter[str] = field(default_factory=Counter)
    empty_for: Counter[str] = field(default_factory=Counter)  # messages answered with an empty turn
    seconds: float = 0.0
    t0: float = 0.0  # when the phase began (time.perf_counter)
    rss_mb: Dict[str, float] = field(default_factory=dict)
    cpu_ms_per_message: Dict[str, float] = field(default_factory=dict)

    def summary(self, sent: int) -> Dict[str, Any]:
        times = sorted(self.latencies_ms)
        cuts = statistics.quantiles(times, n=100, method="inclusive") if len(times) > 1 else times * 99
        return {
            "name": self.name,
            "messages": sent,
            "answered": len(times),
            "p50_ms": cuts[49] if times else None,
            "p95_ms": cuts[94] if times else None,
            "p99_ms": cuts[98] if times else None,
            "max_ms": times[-1] if times else None,
            "throughput": sent / self.seconds if self.seconds else 0.0,
            "seconds": self.seconds,
            "errors": sum(self.errors.values()),
            "error_kinds": dict(self.errors),
            "lost": self.lost,
            "duplicates": self.duplicates,
            "decisions": dict(self.decisions),
            "empty_for": dict(self.empty_for),
            "rss_mb": self.rss_mb,
            "cpu_ms_per_message": self.cpu_ms_per_message,
        }


def message(conversation: int, index: int) -> str:
    return QUESTIONS[(conversation * 7 + index) % len(QUESTIONS)]


# -- the drivers ---------------------------------------------------------------------------------


async def wait_turn(phase: Phase, starts: Optional[List[float]], index: int) -> None:
    """Paced runs: until this message's time comes (never before the previous reply is in)."""
    if starts is not None:
        await asyncio.sleep(max(0.0, phase.t0 + starts[index] - time.perf_counter()))


async def rest_conversation(
    session: aiohttp.ClientSession,
    url: str,
    sender: str,
    texts: List[str],
    phase: Phase,
    starts: Optional[List[float]] = None,
) -> None:
    for index, text in enumerate(texts):
        await wait_turn(phase, starts, index)
        started = time.perf_counter()
        try:
            async with session.post(url, json={"sender": sender, "message": text}) as reply:
                body = await reply.json(content_type=None) if reply.status == 200 else None
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            phase.errors[type(exc).__name__] += 1
            continue
        if body is None:
            phase.errors[f"HTTP {reply.status}"] += 1
            continue
        phase.latencies_ms.append((time.perf_counter() - started) * 1000)
        if not body:
            phase.lost += 1
            phase.empty_for[text] += 1
        for item in body:
            if isinstance(item, dict) and isinstance(item.get("custom"), dict):
                phase.decisions[str(item["custom"].get("decision"))] += 1


def sms_webhook_call(number: str, text: str) -> Tuple[bytes, Dict[str, str]]:
    """The body and headers of Twilio's signed webhook call for an SMS from ``number``."""
    pairs = tw.form("sms_text", From=number, Body=text, MessageSid=tw.new_sid())
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": tw.sign(tw.PUBLIC_BASE_URL + SMS_PATH, pairs),
    }
    return tw.encode(pairs), headers


async def sms_conversation(
    session: aiohttp.ClientSession,
    url: str,
    api: tw.FakeTwilioApi,
    number: str,
    texts: List[str],
    phase: Phase,
    starts: Optional[List[float]] = None,
) -> None:
    for index, text in enumerate(texts):
        await wait_turn(phase, starts, index)
        data, headers = sms_webhook_call(number, text)
        before = len(api.to(number))
        started = time.perf_counter()
        try:
            async with session.post(url, data=data, headers=headers) as reply:
                status, body = reply.status, await reply.text()
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            phase.errors[type(exc).__name__] += 1
            continue
        if status != 200 or "<Response" not in body:
            phase.errors[f"HTTP {status}"] += 1
            continue
        phase.latencies_ms.append((time.perf_counter() - started) * 1000)
        replies = len(api.to(number)) - before
        phase.lost += replies == 0
        phase.duplicates += max(0, replies - 1)


Conversation = Callable[
    [aiohttp.ClientSession, int, List[str], Phase, Optional[List[float]]], Awaitable[None]
]


def schedule(conversations: int, messages: int, rate: Optional[float]) -> List[Optional[List[float]]]:
    """Paced (``rate`` messages/s in all): message i of conversation c is due at (i * N + c) / rate s,
    so arrivals are evenly spread and each conversation sends every N / rate s. Unpaced: no times."""
    if rate is None:
        return [None] * conversations
    return [[(i * conversations + c) / rate for i in range(messages)] for c in range(conversations)]


async def run_phase(
    name: str, conversations: int, messages: int, drive: Conversation, rate: Optional[float] = None
) -> Phase:
    """All conversations at once; each sends its messages one after another, the next when the reply
    is in (unpaced), or also not before its time (paced, see ``schedule``)."""
    phase = Phase(name)
    timeout = aiohttp.ClientTimeout(total=TIMEOUT_S)
    connector = aiohttp.TCPConnector(limit=conversations)
    starts = schedule(conversations, messages, rate)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        phase.t0 = time.perf_counter()
        await asyncio.gather(
            *(
                drive(session, c, [message(c, i) for i in range(messages)], phase, starts[c])
                for c in range(conversations)
            )
        )
        phase.seconds = time.perf_counter() - phase.t0
    return phase


# -- memory --------------------------------------------------------------------------------------


class ProcessWatch:
    """Peak RSS of each server (the process started with its port, and its children), sampled in a
    thread, and the CPU seconds each used over the watch: on a shared machine CPU time per message
    says what a phase cost where wall-clock latency also counts waiting for a core."""

    def __init__(self, ports: Dict[str, int], interval_s: float = 0.2):
        self.ports, self.interval_s = ports, interval_s
        self.peak: Dict[str, float] = {}
        self.cpu_s: Dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def processes(port: int) -> List[psutil.Process]:
        """Our descendants started with ``--port <port>``, with their own children (no duplicates)."""
        found: Dict[int, psutil.Process] = {}
        for proc in psutil.Process().children(recursive=True):
            with contextlib.suppress(psutil.Error):
                args = proc.cmdline()
                if any(a == "--port" and b == str(port) for a, b in itertools.pairwise(args)):
                    for p in [proc, *proc.children(recursive=True)]:
                        found[p.pid] = p
        return list(found.values())

    def sample(self) -> Dict[str, float]:
        now: Dict[str, float] = {}
        for label, port in self.ports.items():
            total = 0
            for proc in self.processes(port):
                with contextlib.suppress(psutil.Error):
                    total += proc.memory_info().rss
            now[label] = total / 2**20
        return now

    def cpu(self) -> Dict[str, float]:
        now: Dict[str, float] = {}
        for label, port in self.ports.items():
            total = 0.0
            for proc in self.processes(port):
                with contextlib.suppress(psutil.Error):
                    times = proc.cpu_times()
                    total += times.user + times.system
            now[label] = total
        return now

    def _run(self) -> None:
        while not self._stop.is_set():
            for label, mb in self.sample().items():
                self.peak[label] = max(self.peak.get(label, 0.0), mb)
            self._stop.wait(self.interval_s)

    def __enter__(self) -> ProcessWatch:
        self._cpu_start = self.cpu()
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()
        self.cpu_s = {k: v - self._cpu_start.get(k, 0.0) for k, v in self.cpu().items()}


# -- the run -------------------------------------------------------------------------------------


def warm_up(rasa_url: str, bare_url: str) -> None:
    """Every question once on each server, and through our SMS webhook, so a phase measures a warm
    process (the SMS path has its own first-time costs: the Twilio client, its connections)."""
    for i, text in enumerate(QUESTIONS):
        for url in (rasa_url, bare_url):
            body = {"sender": f"warm-{i}", "message": text}
            requests.post(f"{url}/webhooks/rest/webhook", json=body, timeout=TIMEOUT_S)
        data, headers = sms_webhook_call(tw.new_number(), text)
        requests.post(rasa_url + SMS_PATH, data=data, headers=headers, timeout=TIMEOUT_S).raise_for_status()


def measure(conversations: int, messages: int, rate: Optional[float] = None) -> Dict[str, Any]:
    model = bare_model()
    phases: List[Dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="load-") as tmp, tw.FakeTwilioApi() as api:
        workdir = Path(tmp)
        with (
            start_servers(workdir, extra_env=tw.environment(api.url), settings_overrides=UNLIMITED) as ours,
            bare_server(model, workdir) as bare_url,
        ):
            ports = {
                "our Rasa server": int(ours.rasa_url.rsplit(":", 1)[1]),
                "our action server": int(ours.actions_url.rsplit(":", 1)[1]),
                "bare Rasa server": int(bare_url.rsplit(":", 1)[1]),
            }
            warm_up(ours.rasa_url, bare_url)
            rest_url, sms_url = f"{ours.rasa_url}/webhooks/rest/webhook", ours.rasa_url + SMS_PATH
            bare_rest = f"{bare_url}/webhooks/rest/webhook"
            numbers = [tw.new_number() for _ in range(conversations)]
            runs: Dict[str, Conversation] = {
                "ours, REST": lambda s, c, t, p, w: rest_conversation(s, rest_url, f"load-rest-{c}", t, p, w),
                "ours, Twilio SMS webhook": lambda s, c, t, p, w: sms_conversation(
                    s, sms_url, api, numbers[c], t, p, w
                ),
                "bare Rasa bot, REST": lambda s, c, t, p, w: rest_conversation(
                    s, bare_rest, f"load-{c}", t, p, w
                ),
            }
            for name, drive in runs.items():
                print(f"{name}: {conversations} conversations x {messages} messages ...", flush=True)
                with ProcessWatch(ports) as watch:
                    phase = asyncio.run(run_phase(name, conversations, messages, drive, rate))
                phase.rss_mb = {k: round(v, 1) for k, v in watch.peak.items()}
                phase.cpu_ms_per_message = {
                    k: round(1000 * v / (conversations * messages), 1) for k, v in watch.cpu_s.items()
                }
                phases.append(phase.summary(conversations * messages))
            # A reply sent after its webhook call returned would be a late duplicate: count them all.
            sent_total = sum(len(api.to(n)) for n in numbers)
            rss_after = {k: round(v, 1) for k, v in ProcessWatch(ports).sample().items()}
    return {
        "conversations": conversations,
        "messages_per_conversation": messages,
        "rate": rate,
        "distinct_messages": len(QUESTIONS),
        "targets": TARGETS,
        "phases": phases,
        "sms_messages_sent_total": sent_total,
        "rss_mb_after": rss_after,
        "bare_model": str(model.relative_to(VAR.parent.parent)),
    }


def verdicts(phase: Dict[str, Any], targets: Dict[str, float]) -> Dict[str, bool]:
    """Which targets a phase of ours met (a missing latency fails)."""
    return {
        "p50": phase["p50_ms"] is not None and phase["p50_ms"] <= targets["p50_ms"],
        "p95": phase["p95_ms"] is not None and phase["p95_ms"] <= targets["p95_ms"],
        "throughput": phase["throughput"] >= targets["throughput"],
        "errors": phase["errors"] == 0,
        "lost": phase["lost"] == 0 and phase["duplicates"] == 0,
    }


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__.split("\n")[0])
    parser.add_argument("--conversations", type=int, default=20, help="concurrent conversations (N)")
    parser.add_argument("--messages", type=int, default=10, help="messages per conversation (M)")
    parser.add_argument(
        "--rate", type=float, help="pace: messages per second in all (default: each reply triggers the next)"
    )
    parser.add_argument("--name", default="load", help="results name (var/bench/results/NAME.json)")
    args = parser.parse_args(argv)
    data = measure(args.conversations, args.messages, args.rate)
    for phase in data["phases"]:
        if phase["name"].startswith("ours"):
            phase["targets_met"] = verdicts(phase, data["targets"])
    path = save(args.name, data)
    print("\n".join(report.load_section(results.load(args.name))))  # the section RESULTS.md will show
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
