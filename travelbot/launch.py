"""`make run`: start the action server, the Rasa server, the staff console; print where to chat.

honcho runs the processes and stops them all together on Ctrl-C (or when any
one of them dies), so nothing is left running in the background.

With ``storage.backend: postgresql`` (the scaled mode) PostgreSQL and Redis are checked first, the Rasa
servers run with endpoints.scaled.yml, and ``--instances N --action-servers M`` runs several of each.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shlex
import sys
from typing import Dict, List, Mapping, Optional

from honcho.manager import Manager

from travelbot import logs, services
from travelbot.settings import ROOT, ConfigError, Settings, load_settings


def environment(config: Settings, token: str, base: Optional[Mapping[str, str]] = None) -> Dict[str, str]:
    """Process environment for the servers (``base``, default os.environ, plus endpoints, offline model
    loading, the token)."""
    tracker_db = config.server.tracker_db
    tracker_db = tracker_db if tracker_db.is_absolute() else ROOT / tracker_db
    tracker_db.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ if base is None else base)
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
    if services.is_scaled(config):
        env.update(services.scaled_environment(config, env))
    return env


def commands(config: Settings) -> Dict[str, str]:
    """The server command lines (the Rasa token comes from $RASA_TOKEN)."""
    server = config.server
    bin_dir = os.path.dirname(sys.executable)
    logging_config = f"--logging-config-file {shlex.quote(str(logs.config_file()))}"  # redacted logs
    return {
        "actions": f"TRAVELBOT_WARMUP=1 {bin_dir}/rasa run actions --actions bot.actions "
        f"--port {server.actions_port} {logging_config}",
        "rasa": f"{sys.executable} -m travelbot.rasa_server run --model models/traveler.tar.gz "
        '--enable-api --auth-token "$RASA_TOKEN" '
        f"--credentials credentials.yml --endpoints {services.endpoints_file(config)} "
        f"--interface {server.host} --port {server.rasa_port} {logging_config}",
        "ready": f"{sys.executable} -m travelbot.ready",
        "console": f"{sys.executable} -m console",  # the staff console; prints its URL
    }


def instance_commands(config: Settings, instances: int, action_servers: int) -> Dict[str, str]:
    """``commands()`` with N Rasa servers (ports rasa_port, rasa_port+1, ...) and M action servers
    (actions_port, actions_port+1, ...); Rasa server i calls action server i mod M. Scaled mode only:
    the servers share conversations through PostgreSQL and the Redis lock."""
    single = commands(config)
    if instances == 1 and action_servers == 1:
        return single
    if not services.is_scaled(config):
        raise ConfigError("several instances need storage.backend: postgresql (the scaled mode)")
    server = config.server
    rasa_ports = [server.rasa_port + i for i in range(instances)]
    action_ports = [server.actions_port + j for j in range(action_servers)]
    ports = rasa_ports + action_ports + [config.console.port]
    if len(set(ports)) != len(ports):
        raise ConfigError(f"instance ports overlap (Rasa {rasa_ports}, actions {action_ports}, console)")
    result: Dict[str, str] = {}
    for j, port in enumerate(action_ports):
        ported = config.copy(update={"server": server.copy(update={"actions_port": port})})
        result[f"actions{j + 1}"] = commands(ported)["actions"]
    for i, port in enumerate(rasa_ports):
        ported = config.copy(update={"server": server.copy(update={"rasa_port": port})})
        action_url = f"http://{server.host}:{action_ports[i % action_servers]}/webhook"
        result[f"rasa{i + 1}"] = f"ACTION_ENDPOINT_URL={action_url} {commands(ported)['rasa']}"
    result.update({name: cmd for name, cmd in single.items() if name not in ("actions", "rasa")})
    return result


def parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m travelbot.launch", description="Start traveler-chatbot.")
    parser.add_argument("--instances", type=int, default=1, help="Rasa servers to run (scaled mode)")
    parser.add_argument("--action-servers", type=int, help="action servers to run (default: --instances)")
    args = parser.parse_args(argv)
    args.action_servers = args.action_servers or args.instances
    if not (1 <= args.instances <= 32 and 1 <= args.action_servers <= 32):
        parser.error("--instances and --action-servers must be between 1 and 32")
    return args


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    try:
        config = load_settings()
        services.check_services(config, os.environ)
        process_commands = instance_commands(config, args.instances, args.action_servers)
    except ConfigError as exc:
        print(f"configuration error:\n{exc}", file=sys.stderr)
        return 2
    except services.ServiceError as exc:
        print(f"scaled mode: {exc}", file=sys.stderr)
        return 2
    token = os.environ.get("RASA_TOKEN") or secrets.token_urlsafe(24)
    if "RASA_TOKEN" not in os.environ:
        print("RASA_TOKEN not set: using a random token for this run (set RASA_TOKEN to choose one)")
    env = environment(config, token)
    if not os.environ.get("CONSOLE_SECRET_KEY"):
        env["CONSOLE_SECRET_KEY"] = secrets.token_urlsafe(32)
        print("CONSOLE_SECRET_KEY not set: using a random key, so console sign-ins end with this run")
    manager = Manager()
    for name, cmd in process_commands.items():
        manager.add_process(name, cmd, env=env, cwd=str(ROOT))
    manager.loop()
    return int(manager.returncode or 0)


if __name__ == "__main__":
    sys.exit(main())
