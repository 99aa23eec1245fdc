"""The bare Rasa bot bench/load.py runs beside ours: `rasa init --no-prompt`, trained once, `rasa run`.

`rasa init` writes the mood bot with the default pipeline (config.yml with an empty pipeline: Rasa's
own default) and trains it; the project and model stay in var/bench/bare/ and are reused while the
model exists (`make clean` removes them). It is served with its own credentials.yml (REST channel)
and endpoints.yml (no tracker store configured: Rasa's in-memory one), as a Rasa user would.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import requests

from bench.results import VAR
from tests.servers import free_port

BARE_DIR = VAR / "bare"


def bare_model(directory: Path = BARE_DIR) -> Path:
    """The `rasa init --no-prompt` project in ``directory``, trained once (reused while its model exists)."""
    models = sorted((directory / "models").glob("*.tar.gz"))
    if models:
        return models[-1]
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    print(f"training the bare Rasa bot into {directory} (once)", flush=True)
    with (directory.parent / "bare-init.log").open("w") as log:
        subprocess.run(
            [str(Path(sys.executable).parent / "rasa"), "init", "--no-prompt", "--init-dir", str(directory)],
            env=dict(os.environ, RASA_TELEMETRY_ENABLED="false", TF_CPP_MIN_LOG_LEVEL="3"),
            stdout=log,
            stderr=subprocess.STDOUT,
            check=True,
        )
    return sorted((directory / "models").glob("*.tar.gz"))[-1]


@contextlib.contextmanager
def bare_server(model: Path, logs: Path) -> Iterator[str]:
    """`rasa run` of the bare bot on a free port (its own credentials.yml enables the REST channel)."""
    port = free_port()
    command = [str(Path(sys.executable).parent / "rasa"), "run", "--model", str(model), "--credentials",
               "credentials.yml", "--interface", "127.0.0.1", "--port", str(port)]  # fmt: skip
    env = dict(os.environ, RASA_TELEMETRY_ENABLED="false", TF_CPP_MIN_LOG_LEVEL="3", PYTHONUNBUFFERED="1")
    url = f"http://127.0.0.1:{port}"
    with (logs / "bare-rasa.log").open("w") as log:
        proc = subprocess.Popen(
            command, cwd=model.parent.parent, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 240
        while True:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"bare Rasa bot did not start; see {logs / 'bare-rasa.log'}")
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"{url}/webhooks/rest/", timeout=2).status_code == 200:
                    break
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
