"""Logging for our processes: one JSON object per line, no secrets, travelers' personal data redacted.

``RedactingFilter`` sits on the handlers, so it sees every record that is
written, whichever library logged it: it formats the message with its
arguments, drops the value of every secret we read from the environment (and
passwords or tokens inside URLs, query strings and Authorization headers),
and runs the rest through ``travelbot.redaction.redact`` (phone numbers, email
addresses, ID-like numbers). Tracebacks get the same treatment.

Where each process takes it:
- the staff console: ``configure()`` (console/__main__.py);
- the action server and the Rasa server: ``--logging-config-file`` with the
  dictConfig file ``config_file()`` writes (travelbot/launch.py). rasa-sdk
  applies it after its own set-up, so the action server logs JSON lines. The
  Rasa server applies it first and would then install coloredlogs over it;
  travelbot/rasa_server.py keeps ours, so it logs the same JSON lines.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import sys
import urllib.parse
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, TextIO

import yaml

from travelbot.redaction import redact
from travelbot.settings import ROOT

# Environment variables whose whole value is a secret.
SECRET_VARS = (
    "TWILIO_AUTH_TOKEN",
    "FB_APP_SECRET",
    "FB_PAGE_ACCESS_TOKEN",
    "FB_VERIFY_TOKEN",
    "RASA_TOKEN",
    "CONSOLE_SECRET_KEY",
    "CONSOLE_WEBHOOK_SECRET",
    "TRAVELBOT_REDIS_PASSWORD",
)
# Environment variables holding a URL whose password is a secret.
URL_VARS = ("TRAVELBOT_DATABASE_URL", "TRAVELBOT_REDIS_URL")
HIDDEN = "[secret]"
MIN_SECRET_CHARS = 6  # a shorter value would blank out ordinary words and numbers
CONFIG_FILE = ROOT / "var" / "logging.yml"

# Credentials that are not ours to know in advance, by where they appear.
_CREDENTIALS = (
    re.compile(r"(?i)\b((?:access_token|auth_token|token|api_key|password|secret)=)[^&\s'\"]+"),
    re.compile(r"(?i)\b(authorization[\"']?\s*[:=]\s*[\"']?(?:basic|bearer|token)\s+)[A-Za-z0-9+/=._~-]+"),
    re.compile(r"(\b[a-z][a-z0-9+.-]*://[^:/@\s]*:)[^@\s/]+(?=@)"),  # scheme://user:PASSWORD@host
)


def secret_values(env: Mapping[str, str]) -> List[str]:
    """The secrets this process holds, longest first (so a secret inside another goes with it)."""
    found = {env.get(var, "").strip() for var in SECRET_VARS}
    for var in URL_VARS:
        password = urllib.parse.urlsplit(env.get(var, "")).password
        found.add(urllib.parse.unquote(password or ""))
        found.add(password or "")
    return sorted((s for s in found if len(s) >= MIN_SECRET_CHARS), key=len, reverse=True)


class RedactingFilter(logging.Filter):
    """Passes every record, with secrets dropped and personal data redacted from its text."""

    def __init__(self, name: str = "", secrets: Optional[Iterable[str]] = None) -> None:
        super().__init__(name)
        values = secret_values(os.environ) if secrets is None else secrets
        self.secrets = sorted((s for s in values if s), key=len, reverse=True)

    def clean(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, HIDDEN)
        for pattern in _CREDENTIALS:
            text = pattern.sub(rf"\g<1>{HIDDEN}", text)
        return redact(text)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # arguments that do not fit the message: keep both, as text
            message = f"{record.msg} {record.args!r}"
        record.msg, record.args = self.clean(message), None
        if record.exc_info:
            record.exc_text = record.exc_text or logging.Formatter().formatException(record.exc_info)
            record.exc_info = None  # a formatter would render it again, unredacted
        if record.exc_text:
            record.exc_text = self.clean(record.exc_text)
        if record.stack_info:
            record.stack_info = self.clean(record.stack_info)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC), level, logger, message, and the traceback if any."""

    def format(self, record: logging.LogRecord) -> str:
        entry: Dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.timezone.utc).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname.lower(),
            "logger": record.name,
            "pid": record.process,
            "message": record.getMessage(),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        return json.dumps(entry, ensure_ascii=False, default=str)


def level_name(level: Optional[str] = None) -> str:
    """The level to log at: ``level``, else $LOG_LEVEL (Rasa's variable), else INFO."""
    name = (level or os.environ.get("LOG_LEVEL") or "INFO").upper()
    return name if isinstance(logging.getLevelName(name), int) else "INFO"


# Libraries that log routine detail at INFO. The twilio library logs each API request's URL, headers and
# response headers: a dozen lines, each formatted and redacted, for every SMS sent.
QUIETER = {"twilio.http_client": "WARNING", "twilio.async_http_client": "WARNING"}


def quieter_loggers(level: Optional[str] = None) -> Dict[str, str]:
    """``QUIETER``, unless logging at DEBUG (then everything is shown)."""
    return {} if level_name(level) == "DEBUG" else dict(QUIETER)


def dict_config(level: Optional[str] = None) -> Dict[str, Any]:
    """The set-up as a ``logging.config.dictConfig`` mapping (what Rasa's --logging-config-file reads)."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"redact": {"()": f"{__name__}.RedactingFilter"}},
        "formatters": {"json": {"()": f"{__name__}.JsonFormatter"}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "json",
                "filters": ["redact"],
            }
        },
        "root": {"level": level_name(level), "handlers": ["stderr"]},
        "loggers": {name: {"level": quiet} for name, quiet in quieter_loggers(level).items()},
    }


def config_file(path: Path = CONFIG_FILE) -> Path:
    """Write the dictConfig file for ``--logging-config-file`` (Rasa server, action server); its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fresh = path.with_name(f".{path.name}.{os.getpid()}")
    fresh.write_text(yaml.safe_dump(dict_config(), sort_keys=False), encoding="utf-8")
    fresh.replace(path)  # atomic: a server starting meanwhile reads the old file or the new, never half
    return path


def configure(level: Optional[str] = None, stream: Optional[TextIO] = None) -> logging.Handler:
    """Log this process's records as redacted JSON lines on ``stream`` (stderr), replacing other handlers."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level_name(level))
    for name, quiet in quieter_loggers(level).items():
        logging.getLogger(name).setLevel(quiet)
    return handler
