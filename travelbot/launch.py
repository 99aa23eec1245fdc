"""`make run`: start the action server, the Rasa server and print where to chat.

honcho runs the processes and stops them all together on Ctrl-C (or when any
one of them dies), so nothing is left running in the background.
"""

from __future__ import annotations

import os
import secrets
import sys
from typing import Dict

from honcho.manager import Manager

from travelbot.settings import ROOT, ConfigError, Settings, load_settings


def environment(config: Settings, token: str) -> Dict[str, str]:
    """Process environment for the servers: endpoints, offline model loading, the token."""
    tracker_db = config.server.tracker_db
    tracker_db = tracker_db if tracker_db.is_absolute() else ROOT / tracker_db
    tracker_db.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.update(
        ACTION_ENDPOINT_URL=f"http://{config.server.host}:{config.server.actions_port}/webhook",
        TRACKER_DB=str(tracker_db),
        RASA_TOKEN=token,
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        TF_CPP_MIN_LOG_LEVEL="3",
        RASA_TELEMETRY_ENABLED="false",
        SQLALCHEMY_SILENCE_UBER_WARNING="1",
        PYTHONUNBUFFERED="1",
    )
    return env


def commands(config: Settings) -> Dict[str, str]:
    """The server command lines (the Rasa token comes from $RASA_TOKEN)."""
    server = config.server
    bin_dir = os.path.dirname(sys.executable)
    return {
        "actions": f"TRAVELBOT_WARMUP=1 {bin_dir}/rasa run actions --actions bot.actions "
        f"--port {server.actions_port}",
        "rasa": f'{bin_dir}/rasa run --model models/traveler.tar.gz --enable-api --auth-token "$RASA_TOKEN" '
        f"--credentials credentials.yml --endpoints endpoints.yml "
        f"--interface {server.host} --port {server.rasa_port}",
        "ready": f"{sys.executable} -m travelbot.ready",
    }


def main() -> int:
    try:
        config = load_settings()
    except ConfigError as exc:
        print(f"configuration error:\n{exc}", file=sys.stderr)
        return 2
    token = os.environ.get("RASA_TOKEN") or secrets.token_urlsafe(24)
    if "RASA_TOKEN" not in os.environ:
        print("RASA_TOKEN not set: using a random token for this run (set RASA_TOKEN to choose one)")
    env = environment(config, token)
    manager = Manager()
    for name, cmd in commands(config).items():
        manager.add_process(name, cmd, env=env, cwd=str(ROOT))
    manager.loop()
    return int(manager.returncode or 0)


if __name__ == "__main__":
    sys.exit(main())
