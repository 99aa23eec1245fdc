"""The scaled mode's outside services: PostgreSQL and Redis, checked before any server starts.

With ``storage.backend: postgresql`` every Rasa server keeps its trackers in PostgreSQL (Rasa's SQL
tracker store) and takes a per-conversation lock in Redis (Rasa's Redis lock store), so several Rasa
servers can serve the same conversations one turn at a time; our own tables live in the same database.

Rasa's Redis lock store takes host, port and db as separate keys (it does not parse a URL), so the
one $TRAVELBOT_REDIS_URL is split here into the variables endpoints.scaled.yml interpolates.

A service that cannot be reached stops the launch with an error naming it and where it was looked for,
instead of Rasa retrying the database forever or failing on the first message.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass
from typing import Dict, Mapping

import redis
import sqlalchemy as sa

from travelbot.schema import SchemaError, ensure_schema
from travelbot.settings import ConfigError, Settings

SCALED_ENDPOINTS = "endpoints.scaled.yml"
REDIS_URL_ENV = "TRAVELBOT_REDIS_URL"
REDIS_PREFIX_ENV = "TRAVELBOT_REDIS_KEY_PREFIX"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/1"  # Rasa's own default lock-store database is 1
DEFAULT_REDIS_PREFIX = "travelbot"
CONNECT_TIMEOUT_S = 5


class ServiceError(Exception):
    """A service the scaled mode needs cannot be reached or used."""


@dataclass(frozen=True)
class RedisTarget:
    host: str
    port: int
    db: int
    username: str
    password: str

    def where(self) -> str:
        """Where Redis was looked for, without the password."""
        return f"{self.host}:{self.port} (database {self.db})"


def is_scaled(config: Settings) -> bool:
    return config.storage.backend == "postgresql"


def endpoints_file(config: Settings) -> str:
    """The endpoints file the Rasa server runs with: embedded (SQLite, in-memory lock) or scaled."""
    return SCALED_ENDPOINTS if is_scaled(config) else "endpoints.yml"


def redis_target(env: Mapping[str, str]) -> RedisTarget:
    """Parse $TRAVELBOT_REDIS_URL (``redis://[[user]:password@]host[:port][/db]``)."""
    raw = env.get(REDIS_URL_ENV) or DEFAULT_REDIS_URL
    parts = urllib.parse.urlsplit(raw if "://" in raw else f"redis://{raw}")
    if parts.scheme != "redis":
        raise ServiceError(
            f"${REDIS_URL_ENV}: only redis:// URLs work with Rasa's lock store, not {parts.scheme}://"
        )
    try:
        port = parts.port or 6379
        db = int(parts.path.strip("/") or 1)
    except ValueError as exc:
        raise ServiceError(f"${REDIS_URL_ENV}: bad port or database number in {parts.hostname!r}") from exc
    return RedisTarget(
        host=parts.hostname or "127.0.0.1",
        port=port,
        db=db,
        username=urllib.parse.unquote(parts.username or ""),
        password=urllib.parse.unquote(parts.password or ""),
    )


def scaled_environment(config: Settings, env: Mapping[str, str]) -> Dict[str, str]:
    """The variables endpoints.scaled.yml interpolates: the database URL (from the variable
    storage.postgres_url_env names) and the Redis parts of $TRAVELBOT_REDIS_URL."""
    database_url = env.get(config.storage.postgres_url_env)
    if not database_url:
        raise ConfigError(f"storage.backend is postgresql but ${config.storage.postgres_url_env} is not set")
    target = redis_target(env)
    prefix = env.get(REDIS_PREFIX_ENV) or DEFAULT_REDIS_PREFIX
    if not prefix.isalnum():
        raise ServiceError(f"${REDIS_PREFIX_ENV} must be letters and digits only, got {prefix!r}")
    return {
        "TRAVELBOT_DATABASE_URL": database_url,
        "TRAVELBOT_REDIS_HOST": target.host,
        "TRAVELBOT_REDIS_PORT": str(target.port),
        "TRAVELBOT_REDIS_DB": str(target.db),
        "TRAVELBOT_REDIS_USERNAME": target.username,
        "TRAVELBOT_REDIS_PASSWORD": target.password,
        REDIS_PREFIX_ENV: prefix,
    }


def check_postgresql(url: str) -> None:
    """Connect once and upgrade our tables (here, before any server starts, not at first use)."""
    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError as exc:
        raise ServiceError(f"PostgreSQL: the database URL cannot be parsed ({exc})") from exc
    where = parsed.render_as_string(hide_password=True)
    if parsed.get_backend_name() != "postgresql":
        raise ServiceError(f"storage.backend is postgresql but the database URL is not: {where}")
    if "connect_timeout" not in parsed.query:  # an unreachable host fails in seconds, not minutes
        parsed = parsed.update_query_dict({"connect_timeout": str(CONNECT_TIMEOUT_S)})
    engine = sa.create_engine(parsed, future=True)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        ensure_schema(engine)
    except sa.exc.DBAPIError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise ServiceError(f"cannot reach PostgreSQL at {where}: {reason}") from exc
    except SchemaError as exc:
        raise ServiceError(str(exc)) from exc
    finally:
        engine.dispose()


def check_redis(target: RedisTarget) -> None:
    client = redis.Redis(
        host=target.host,
        port=target.port,
        db=target.db,
        username=target.username or None,
        password=target.password or None,
        socket_connect_timeout=CONNECT_TIMEOUT_S,
        socket_timeout=CONNECT_TIMEOUT_S,
    )
    try:
        client.ping()
    except redis.exceptions.RedisError as exc:
        raise ServiceError(f"cannot reach Redis at {target.where()} (${REDIS_URL_ENV}): {exc}") from exc
    finally:
        client.close()


def check_services(config: Settings, env: Mapping[str, str]) -> None:
    """Raise ServiceError naming the first service that cannot be reached; nothing to do when embedded."""
    if not is_scaled(config):
        return
    scaled = scaled_environment(config, env)
    check_postgresql(scaled["TRAVELBOT_DATABASE_URL"])
    check_redis(redis_target(env))
