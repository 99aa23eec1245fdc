"""The staff console: a Flask app where agents take over handed-off conversations.

``create_app`` builds it from the validated settings (travelbot.yml's
``console:`` section) and two secrets from the environment: the session key
($CONSOLE_SECRET_KEY) and the Rasa HTTP API token ($RASA_TOKEN). A missing or
weak secret stops the console at start with the variable's name.
"""

from __future__ import annotations

import datetime as dt
import os
from typing import Mapping, Optional

from flask import Flask, Response
from flask_wtf.csrf import CSRFProtect
from pydantic import BaseModel, SecretStr, ValidationError, validator

from console.auth import init_auth
from console.rasa_api import RasaApi
from console.sessions import PollSafeSessionInterface
from knowledge.embedder import Embedder
from travelbot.casework import CaseStore
from travelbot.optouts import OptOutStore
from travelbot.settings import ConfigError, Settings
from travelbot.users import UserStore

ENV_VARS = {"secret_key": "CONSOLE_SECRET_KEY", "rasa_token": "RASA_TOKEN"}
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


class ConsoleSecrets(BaseModel):
    secret_key: SecretStr
    rasa_token: SecretStr

    @validator("secret_key")
    def _long_enough(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) < 32:
            raise ValueError("must have at least 32 characters (e.g. from secrets.token_urlsafe(32))")
        return value

    @classmethod
    def from_env(cls, environ: Optional[Mapping[str, str]] = None) -> ConsoleSecrets:
        env = os.environ if environ is None else environ
        missing = [var for var in ENV_VARS.values() if not env.get(var, "").strip()]
        if missing:
            raise ConfigError(f"staff console: {', '.join(missing)} not set")
        try:
            return cls.parse_obj({field: env[var].strip() for field, var in ENV_VARS.items()})
        except ValidationError as exc:
            raise ConfigError(
                "\n".join(f"staff console: ${ENV_VARS[str(e['loc'][0])]}: {e['msg']}" for e in exc.errors())
            ) from exc


def create_app(
    config: Settings,
    secrets: ConsoleSecrets,
    users: UserStore,
    cases: CaseStore,
    rasa_url: Optional[str] = None,
) -> Flask:
    app = Flask(__name__)
    console = config.console
    app.config.update(
        SECRET_KEY=secrets.secret_key.get_secret_value(),
        SESSION_COOKIE_NAME="travelbot_console",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=console.cookies_secure(),
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_SECURE=console.cookies_secure(),
        PERMANENT_SESSION_LIFETIME=dt.timedelta(hours=console.session_hours),
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session
        MAX_CONTENT_LENGTH=64 * 1024,
        POLL_INTERVAL_MS=int(console.poll_interval_s * 1000),
    )
    app.session_interface = PollSafeSessionInterface()
    rasa_url = rasa_url or f"http://{config.server.host}:{config.server.rasa_port}"
    app.extensions["travelbot_cases"] = cases
    app.extensions["travelbot_optouts"] = OptOutStore(cases.engine)
    app.extensions["travelbot_rasa"] = RasaApi(rasa_url, secrets.rasa_token.get_secret_value())
    init_auth(app, users)  # first: an anonymous request is refused (401) before anything else runs
    CSRFProtect(app)

    # One sentence model per console process (loaded on first use), shared by the editor's preview and
    # publication, rollbacks and the review queue's clustering.
    app.extensions["travelbot_embedder"] = Embedder()

    from console import dashboard, review
    from console.editor import bp as editor
    from console.history import bp as history
    from console.views import bp as views

    app.register_blueprint(views)
    app.register_blueprint(editor, settings=config)
    app.register_blueprint(history, settings=config)
    review.register(app, config, cases.engine)
    dashboard.register(app)

    @app.after_request
    def headers(response: Response) -> Response:
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    return app
