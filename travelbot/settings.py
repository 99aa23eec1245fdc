"""The one validated configuration model for every process.

Settings come from ``travelbot.yml`` at the repository root (or the file named
by ``TRAVELBOT_CONFIG``). Secrets never live in that file: they are read from
the environment by the part that needs them. A bad value stops the process at
start with the file and the key, not deep inside a request.
"""

from __future__ import annotations

import datetime as dt
import os
from functools import lru_cache
from pathlib import Path
from typing import List, Optional

import yaml
from pydantic import AnyHttpUrl, BaseModel, Extra, Field, ValidationError, root_validator, validator

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_FILE = ROOT / "travelbot.yml"


class ConfigError(Exception):
    """Raised at start-up when the configuration cannot be used."""


class _Strict(BaseModel):
    class Config:
        extra = Extra.forbid


class RetrievalSettings(_Strict):
    """Thresholds of the decision policy (cosine similarities and probabilities)."""

    top_k: int = Field(default=40, ge=5, le=500)
    answer_min: float = Field(default=0.62, ge=0, le=1)
    answer_margin: float = Field(default=0.04, ge=0, le=1)
    answer_sure: float = Field(default=0.90, ge=0, le=2)
    trust_match_above: float = Field(default=0.78, ge=0, le=1)
    clarify_min: float = Field(default=0.50, ge=0, le=1)
    clarify_window: float = Field(default=0.06, ge=0, le=1)
    handoff_min: float = Field(default=0.40, ge=0, le=1)
    scope_min: float = Field(default=0.35, ge=0, le=1)
    sensitive_min: float = Field(default=0.50, ge=0, le=1)
    personal_min: float = Field(default=0.60, ge=0, le=1)
    max_choices: int = Field(default=3, ge=2, le=5)
    title_weight: float = Field(default=0.05, ge=0, le=1)
    vocabulary_weight: float = Field(default=0.25, ge=0, le=1)
    distinctive_weight: float = Field(default=0.06, ge=0, le=1)
    rerank_depth: int = Field(default=15, ge=1, le=100)

    @root_validator(skip_on_failure=True)
    def _ordered(cls, values: dict) -> dict:
        if not values["handoff_min"] <= values["clarify_min"] <= values["answer_min"]:
            raise ValueError("need handoff_min <= clarify_min <= answer_min")
        return values


class AgentHours(_Strict):
    """When people staff the contact center (used to tell travelers what happens next)."""

    timezone: str = "America/New_York"
    days: List[int] = Field(default_factory=lambda: [0, 1, 2, 3, 4, 5, 6], description="0=Monday")
    start: dt.time = dt.time(8, 0)
    end: dt.time = dt.time(22, 0)

    @validator("timezone")
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @validator("days", each_item=True)
    def _weekday(cls, value: int) -> int:
        if not 0 <= value <= 6:
            raise ValueError("weekdays are 0 (Monday) to 6 (Sunday)")
        return value


class StorageSettings(_Strict):
    """Where our own records (handoffs) live; the tracker store follows the same switch."""

    backend: str = Field(default="sqlite", regex="^(sqlite|postgresql)$")
    sqlite_path: Path = Path("var/travelbot.db")
    postgres_url_env: str = "TRAVELBOT_DATABASE_URL"

    def url(self) -> str:
        if self.backend == "sqlite":
            path = self.sqlite_path if self.sqlite_path.is_absolute() else ROOT / self.sqlite_path
            path.parent.mkdir(parents=True, exist_ok=True)
            return f"sqlite:///{path}"
        url = os.environ.get(self.postgres_url_env)
        if not url:
            raise ConfigError(f"storage.backend is postgresql but ${self.postgres_url_env} is not set")
        return url


class ServerSettings(_Strict):
    host: str = "127.0.0.1"
    rasa_port: int = Field(default=5005, ge=1, le=65535)
    actions_port: int = Field(default=5055, ge=1, le=65535)
    tracker_db: Path = Path("var/tracker.db")
    # CPU threads for embedding a traveler's message in the action server (ONNX Runtime and torch). One:
    # a question is a dozen tokens, a second thread saves little and fights the Rasa server for this
    # machine's other core (measured: bench/latency.py).
    answer_threads: int = Field(default=1, ge=1, le=64)


class ConsoleSettings(_Strict):
    """The staff console (console/): where it listens and how its cookies and pages behave.

    The session secret key is a secret, so it comes from $CONSOLE_SECRET_KEY, never from here.
    """

    port: int = Field(default=5010, ge=1, le=65535)
    public_url: Optional[AnyHttpUrl] = None  # where agents open it, when behind a proxy
    secure_cookies: Optional[bool] = None  # default: on when public_url is https
    poll_interval_s: float = Field(default=2.0, ge=0.2, le=60)
    notify_webhook_url: Optional[AnyHttpUrl] = None  # POSTed a JSON note on each new handoff
    session_hours: int = Field(default=12, ge=1, le=24 * 30)

    def cookies_secure(self) -> bool:
        if self.secure_cookies is not None:
            return self.secure_cookies
        return bool(self.public_url and self.public_url.scheme == "https")


class RateLimitSettings(_Strict):
    """How many messages one sender may send on a traveler channel (channels/rate_limit.py).

    In the notation of the ``limits`` library: "20/minute", "5 per 10 seconds", "200/day". A moving window:
    at most that many messages in any such span. Above it a message never reaches Rasa.
    """

    per_sender: str = "20/minute"
    per_client_address: str = "120/minute"  # REST and web chat, where sender ids are the client's to pick
    trusted_proxies: int = Field(default=0, ge=0, le=10)  # reverse proxies in front that set X-Forwarded-For

    @validator("per_sender", "per_client_address")
    def _parses(cls, value: str) -> str:
        from limits import parse  # here, not at the top: only processes that read this setting pay for it

        try:
            rate = parse(value)
        except ValueError as exc:
            raise ValueError(f'{value!r} is not a rate like "20/minute" or "5 per 10 seconds"') from exc
        if rate.amount < 1:
            raise ValueError("must allow at least one message")
        return value


class Settings(_Strict):
    server: ServerSettings = ServerSettings()
    console: ConsoleSettings = ConsoleSettings()
    retrieval: RetrievalSettings = RetrievalSettings()
    agent_hours: AgentHours = AgentHours()
    storage: StorageSettings = StorageSettings()
    rate_limit: RateLimitSettings = RateLimitSettings()
    index_dir: Path = Path("var/index")
    corpus_dir: Path = Path("knowledge/corpus")  # the entry files; editors' regression questions beside it
    reload_check_ms: int = Field(default=250, ge=0, le=60_000)  # how often answering stats the publish marker
    source_file: Optional[Path] = None

    @validator("corpus_dir")
    def _corpus_exists(cls, value: Path) -> Path:
        path = value if value.is_absolute() else ROOT / value
        if not path.is_dir():
            raise ValueError(f"corpus directory {path} does not exist")
        return value

    def index_path(self) -> Path:
        return self.index_dir if self.index_dir.is_absolute() else ROOT / self.index_dir

    def corpus_path(self) -> Path:
        return self.corpus_dir if self.corpus_dir.is_absolute() else ROOT / self.corpus_dir


# Environment variables that override a path setting (a test or a second checkout pointing at its own copy).
PATH_OVERRIDES = {"TRAVELBOT_CORPUS_DIR": "corpus_dir", "TRAVELBOT_INDEX_DIR": "index_dir"}


def load_settings(path: Optional[Path] = None) -> Settings:
    """Read and validate the settings file; raise ConfigError naming file and key."""
    path = path or Path(os.environ.get("TRAVELBOT_CONFIG", DEFAULT_FILE))
    if not path.exists():
        raise ConfigError(f"{path}: configuration file not found")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: must be a mapping of settings")
    overridden = {key: var for var, key in PATH_OVERRIDES.items() if os.environ.get(var)}
    raw.update({key: os.environ[var] for key, var in overridden.items()})
    try:
        settings = Settings.parse_obj(raw)
    except ValidationError as exc:

        def where(loc: str) -> str:
            return f"${overridden[loc]}" if loc in overridden else f"{path}: {loc}"

        lines = [f"{where('.'.join(str(p) for p in e['loc']))}: {e['msg']}" for e in exc.errors()]
        raise ConfigError("\n".join(lines)) from exc
    return settings.copy(update={"source_file": path})


@lru_cache(maxsize=1)
def settings() -> Settings:
    """The process-wide settings, loaded once."""
    return load_settings()
