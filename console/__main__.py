"""`python -m console`: serve the staff console with waitress (started by `make run`)."""

from __future__ import annotations

import os
import sys

from waitress import serve

from console import ConsoleSecrets, create_app
from console.notifier import Notifier
from travelbot import logs, runtime
from travelbot.casework import CaseStore
from travelbot.settings import ConfigError, settings
from travelbot.users import UserStore


def main() -> int:
    logs.configure()
    try:
        config = settings()
        secrets = ConsoleSecrets.from_env()
        engine = runtime.handoff_store().engine
    except ConfigError as exc:
        print(f"configuration error:\n{exc}", file=sys.stderr)
        return 2
    users, cases = UserStore(engine), CaseStore(engine)
    app = create_app(config, secrets, users, cases)
    host, port = config.server.host, config.console.port
    url = str(config.console.public_url or f"http://{host}:{port}/")
    if not users.listing():
        print("staff console: no users yet; create one with `travelbot user add NAME --role admin`")
    print(f"staff console: {url}", flush=True)
    if config.console.notify_webhook_url:
        notifier = Notifier(
            engine, str(config.console.notify_webhook_url), url, os.environ.get("CONSOLE_WEBHOOK_SECRET")
        )
        notifier.start(config.console.poll_interval_s)
        print(f"staff console: new handoffs are POSTed to {config.console.notify_webhook_url}")
    serve(app, host=host, port=port, threads=8, ident="travelbot-console")
    return 0


if __name__ == "__main__":
    sys.exit(main())
