"""Our processes' logs: JSON lines, secrets never written, travelers' personal data redacted.

Records go through the real logging machinery into a string stream; the
Rasa and action server set-ups are Rasa's and rasa-sdk's own functions, run
in this process with the file ``travelbot.logs.config_file`` writes.
"""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path
from typing import Iterator, List

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from travelbot import logs
from travelbot.redaction import personal_data

PHONE_TEXT = "can i bring my power bank? call me at (202) 555-0123 or jo@example.org"
SECRETS = {
    "TWILIO_AUTH_TOKEN": "twilio-auth-token-0123456789abcdef",
    "FB_APP_SECRET": "fb-app-secret-fedcba9876543210",
    "FB_PAGE_ACCESS_TOKEN": "EAAGpagetokenXYZ0123456789",
    "FB_VERIFY_TOKEN": "verify-me-please",
    "RASA_TOKEN": "rasa-http-api-token-xyz",
    "CONSOLE_SECRET_KEY": "console-session-key-" + "k" * 20,
    "CONSOLE_WEBHOOK_SECRET": "console-webhook-secret-abc",
    "TRAVELBOT_REDIS_PASSWORD": "redis-password-qwerty",
}
DB_PASSWORD = "pg-p@ss/word-123"
DB_URL = "postgresql://travelbot:pg-p%40ss%2Fword-123@db.internal:5432/travelbot"


@pytest.fixture
def secret_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("TRAVELBOT_DATABASE_URL", DB_URL)


@pytest.fixture
def root_logging() -> Iterator[logging.Logger]:
    """The root logger, put back as it was afterwards (these tests reconfigure it)."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield root
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def lines(stream: io.StringIO) -> List[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_every_secret_in_the_environment_is_dropped_wherever_it_appears(
    secret_env: None, root_logging: logging.Logger
) -> None:
    stream = io.StringIO()
    logs.configure("INFO", stream)
    log = logging.getLogger("channels.twilio_client")
    for name, value in SECRETS.items():
        log.warning("sending with %s=%s", name, value)  # as an argument
        log.warning(f"inline {value} in the message")  # inside the message itself
    log.error("database at %s refused", DB_URL)
    written = stream.getvalue()
    for value in [*SECRETS.values(), DB_PASSWORD, "pg-p%40ss%2Fword-123"]:
        assert value not in written
    assert written.count(logs.HIDDEN) >= 2 * len(SECRETS) + 1
    assert "db.internal:5432" in written  # where, without the password


def test_credentials_we_did_not_know_about_are_dropped_too(root_logging: logging.Logger) -> None:
    stream = io.StringIO()
    logs.configure("INFO", stream)
    log = logging.getLogger("aiohttp.client")
    log.info("POST https://graph.example/v19.0/me/messages?access_token=EAAunknown123&x=1 failed")
    log.info("headers {'Authorization': 'Basic QUMxMjM6c2VjcmV0'}")
    log.info("connecting to redis://:hunter2hunter2@cache.internal:6379/1")
    written = stream.getvalue()
    for secret in ("EAAunknown123", "QUMxMjM6c2VjcmV0", "hunter2hunter2"):
        assert secret not in written
    assert "x=1" in written and "cache.internal:6379" in written


def test_personal_data_is_redacted_in_messages_arguments_and_tracebacks(
    root_logging: logging.Logger,
) -> None:
    stream = io.StringIO()
    logs.configure("INFO", stream)
    log = logging.getLogger("channels.rest")
    log.info("message from %s: %r", "+15558675310", PHONE_TEXT)
    try:
        raise ValueError(f"could not handle {PHONE_TEXT!r}")
    except ValueError:
        log.exception("failed to handle a message from %s", "jo@example.org")
    first, second = lines(stream)
    assert first["message"] == (
        "message from [phone]: 'can i bring my power bank? call me at [phone] or [email]'"
    )
    assert (first["level"], first["logger"]) == ("info", "channels.rest")
    assert second["message"] == "failed to handle a message from [email]"
    assert "ValueError: could not handle" in second["exception"] and "[phone]" in second["exception"]
    assert "555" not in stream.getvalue() and "example.org" not in stream.getvalue()


def test_each_record_is_one_json_line_with_time_level_logger_and_message(
    root_logging: logging.Logger,
) -> None:
    stream = io.StringIO()
    logs.configure("WARNING", stream)
    logging.getLogger("sanic.error").warning('multi\nline\n"quoted" message')
    logging.getLogger("travelbot.anything").info("below the level: not written")
    (entry,) = lines(stream)
    assert set(entry) == {"time", "level", "logger", "pid", "message"}
    assert entry["message"] == 'multi\nline\n"quoted" message' and entry["time"].endswith("+00:00")


@settings(max_examples=100, deadline=None, database=None)
@given(
    message=st.text(max_size=200),
    args=st.lists(st.text(max_size=40) | st.integers() | st.floats(), max_size=3),
    secret=st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_", min_size=12),
)
def test_any_record_passes_without_its_secret_or_personal_data(message: str, args: list, secret: str) -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, message + " %s" * len(args), tuple(args), None)
    record.msg = f"{record.msg} {secret}"
    assert logs.RedactingFilter(secrets=[secret]).filter(record) is True
    written = logs.JsonFormatter().format(record)
    text = json.loads(written)["message"]
    assert secret not in text and personal_data(text) == []


# -- the servers' set-up ----------------------------------------------------------------------------


def test_the_action_server_writes_redacted_json_lines(
    tmp_path: Path, root_logging: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    from rasa_sdk import utils as sdk

    config = logs.config_file(tmp_path / "logging.yml")
    sdk.configure_colored_logging("INFO")  # what `rasa run actions` does, in its order
    sdk.configure_file_logging(logging.getLogger("rasa_sdk"), None, logging.INFO, str(config))
    logging.getLogger("bot.actions").warning("handoff for %s", "+1 202 555 0123")
    written = [line for line in capsys.readouterr().err.splitlines() if "handoff for" in line]
    assert [json.loads(line)["message"] for line in written] == ["handoff for [phone]"]  # once, as JSON


def test_the_rasa_server_writes_redacted_json_lines(
    tmp_path: Path, root_logging: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    import rasa.utils.io
    from rasa.utils.common import configure_logging_from_file

    from travelbot import rasa_server

    original = rasa.utils.io.configure_colored_logging
    try:
        rasa_server.apply_fixes()
        configure_logging_from_file(str(logs.config_file(tmp_path / "logging.yml")))  # Rasa's order: file,
        rasa.utils.io.configure_colored_logging("INFO")  # then coloredlogs, as rasa/__main__.py calls it
    finally:
        rasa.utils.io.configure_colored_logging = original
    logging.getLogger("channels.rest").warning("failed to handle %r", PHONE_TEXT)
    written = [line for line in capsys.readouterr().err.splitlines() if "failed to handle" in line]
    assert len(written) == 1
    message = json.loads(written[0])["message"]
    assert "[phone]" in message and "[email]" in message
    assert "555-0123" not in message and "jo@example.org" not in message


def test_without_our_config_the_rasa_server_keeps_rasas_colored_logs(root_logging: logging.Logger) -> None:
    from travelbot.rasa_server import keep_json_logging

    keep_json_logging("INFO")
    formats = [getattr(h.formatter, "_fmt", None) for h in logging.getLogger().handlers]
    assert "%(asctime)s %(levelname)-8s %(name)s  - %(message)s" in formats  # Rasa's own coloredlogs set-up


def test_the_config_file_is_valid_for_dictconfig(tmp_path: Path, root_logging: logging.Logger) -> None:
    import logging.config

    import yaml

    written = yaml.safe_load(logs.config_file(tmp_path / "logging.yml").read_text())
    assert written == logs.dict_config()
    logging.config.dictConfig(written)
    (handler,) = logging.getLogger().handlers
    assert any(isinstance(f, logs.RedactingFilter) for f in handler.filters)
    assert isinstance(handler.formatter, logs.JsonFormatter)


def test_the_twilio_librarys_request_dumps_are_not_logged(root_logging: logging.Logger) -> None:
    """The twilio library logs every API request's URL and headers at INFO; shown only at DEBUG."""
    stream = io.StringIO()
    logs.configure("INFO", stream)
    clients = [logging.getLogger(name) for name in ("twilio.http_client", "twilio.async_http_client")]
    try:
        for twilio in clients:  # the console's client (requests) and the webhooks' (aiohttp)
            twilio.info("-- BEGIN Twilio API Request --")
            twilio.warning("a failure is still logged")
        assert [json.loads(line)["message"] for line in stream.getvalue().splitlines()] == [
            "a failure is still logged"
        ] * 2
        assert logs.dict_config("INFO")["loggers"] == {
            "twilio.http_client": {"level": "WARNING"},
            "twilio.async_http_client": {"level": "WARNING"},
        }
        assert logs.dict_config("DEBUG")["loggers"] == {}
    finally:
        for twilio in clients:
            twilio.setLevel(logging.NOTSET)
