"""A throwaway PostgreSQL database for a test: created on the local server, dropped afterwards.

Tests that need PostgreSQL skip when it is not reachable, except under CI (``CI`` set by .ci/run, which
starts the service), where its absence is a failure: they can never be silently skipped there.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from typing import Iterator

import pytest
import sqlalchemy as sa

ADMIN_URL = os.environ.get("TRAVELBOT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def admin_engine() -> sa.engine.Engine:
    return sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5})


def skip_or_fail(what: str, problem: object) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"CI must run the {what}: {problem} (.ci/run starts the services)")
    pytest.skip(f"{what}: service not reachable: {problem}")


@contextlib.contextmanager
def fresh_database(prefix: str, what: str) -> Iterator[str]:
    """The URL of a new, empty database named ``prefix_<random>``; dropped (connections closed) after."""
    admin = admin_engine()
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.DBAPIError as exc:
        admin.dispose()
        skip_or_fail(what, exc)
    try:
        yield admin.url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
