"""Start the real Rasa server and action server for integration tests."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import requests
import yaml

from travelbot import launch
from travelbot.settings import ROOT, load_settings

START_TIMEOUT_S = 240


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Servers:
    rasa_url: str
    actions_url: str
    token: str
    handoff_db: Path
    logs: Path
    console_url: Optional[str] = None  # set when started with console=True

    def say(self, sender: str, message: str, channel: str = "rest") -> List[Dict[str, Any]]:
        reply = requests.post(
            f"{self.rasa_url}/webhooks/{channel}/webhook",
            json={"sender": sender, "message": message},
            timeout=60,
        )
        reply.raise_for_status()
        return list(reply.json())

    def tracker(self, sender: str) -> Dict[str, Any]:
        reply = requests.get(
            f"{self.rasa_url}/conversations/{sender}/tracker", params={"token": self.token}, timeout=30
        )
        reply.raise_for_status()
        return dict(reply.json())


def _wait(url: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited early; log:\n{log.read_text()[-4000:]}")
        with contextlib.suppress(requests.RequestException):
            if requests.get(url, timeout=2).status_code == 200:
                return
        time.sleep(0.5)
    raise RuntimeError(f"{url} did not come up in {START_TIMEOUT_S} s; log:\n{log.read_text()[-4000:]}")


@contextlib.contextmanager
def start_servers(
    workdir: Path,
    extra_env: Optional[Dict[str, str]] = None,
    console: bool = False,
    database_url: Optional[str] = None,
    settings_overrides: Optional[Dict[str, Any]] = None,
) -> Iterator[Servers]:
    """Both servers on free ports; ``extra_env`` adds variables (e.g. a channel's TWILIO_*).

    With ``console=True`` the staff console runs too (its command line from launch, like `make run`).
    ``settings_overrides``: top-level sections of travelbot.yml to replace (e.g. ``rate_limit``).
    With ``database_url`` it is one instance of the scaled mode (storage.backend: postgresql,
    endpoints.scaled.yml, the Redis lock from $TRAVELBOT_REDIS_URL): call it once per instance, each
    with its own workdir and ports, all sharing that database.
    """
    rasa_port, actions_port = free_port(), free_port()
    config = yaml.safe_load((ROOT / "travelbot.yml").read_text())
    config["storage"] = {"backend": "sqlite", "sqlite_path": str(workdir / "handoffs.db")}
    config["server"] = {
        "host": "127.0.0.1",
        "rasa_port": rasa_port,
        "actions_port": actions_port,
        "tracker_db": str(workdir / "tracker.db"),
    }
    base_env = dict(os.environ, **(extra_env or {}))
    if database_url:
        config["storage"] = {"backend": "postgresql"}
        base_env["TRAVELBOT_DATABASE_URL"] = database_url
    console_port = free_port() if console else 0
    if console:
        config["console"] = {"port": console_port, "poll_interval_s": 0.5}
    # Every test traveler comes from 127.0.0.1: the per-address limit (tests/test_rate_limit.py) would
    # count the whole suite as one client.
    config["rate_limit"] = {"per_client_address": "100000/minute"}
    config.update(settings_overrides or {})
    config_file = workdir / "travelbot.yml"
    config_file.write_text(yaml.safe_dump(config))
    token = "test-token"
    settings = load_settings(config_file)
    env = dict(
        launch.environment(settings, token, base_env), TRAVELBOT_CONFIG=str(config_file), **(extra_env or {})
    )
    env.setdefault("CONSOLE_SECRET_KEY", "test-only-console-secret-key-0123456789")
    actions_log, rasa_log = workdir / "actions.log", workdir / "rasa.log"
    procs = []
    commands = launch.commands(settings)
    try:
        with actions_log.open("w") as alog, rasa_log.open("w") as rlog:
            for name, log in (("actions", alog), ("rasa", rlog)):
                procs.append(
                    subprocess.Popen(
                        commands[name],
                        shell=True,
                        cwd=ROOT,
                        env=env,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )
            actions, rasa = procs
            console_url = None
            if console:
                console_log = workdir / "console.log"
                with console_log.open("w") as clog:
                    procs.append(
                        subprocess.Popen(
                            commands["console"],
                            shell=True,
                            cwd=ROOT,
                            env=env,
                            stdout=clog,
                            stderr=subprocess.STDOUT,
                            start_new_session=True,
                        )
                    )
                console_url = f"http://127.0.0.1:{console_port}"
                _wait(f"{console_url}/login", procs[-1], console_log)
            _wait(f"http://127.0.0.1:{actions_port}/health", actions, actions_log)
            _wait(f"http://127.0.0.1:{rasa_port}/webhooks/rest/", rasa, rasa_log)
            yield Servers(
                f"http://127.0.0.1:{rasa_port}",
                f"http://127.0.0.1:{actions_port}",
                token,
                workdir / "handoffs.db",
                workdir,
                console_url,
            )
    finally:
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
