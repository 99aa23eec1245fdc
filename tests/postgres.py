"""A throwaway PostgreSQL database for a test: created on the local server, dropped afterwards.

Tests that need PostgreSQL skip when it is not reachable, except under CI (``CI`` set by .ci/run, which
starts the service), where its absence is a failure: they can never be silently skipped there.
``OwnPostgres`` runs a server of the test's own, for tests that restart it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path
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


class OwnPostgres:
    """A PostgreSQL server of the test's own (initdb in a temporary folder, a free port), to restart.

    The machine's shared server stays up for every other test. As root (CI here), the server runs as the
    ``postgres`` user, as PostgreSQL requires. The binaries are the machine's (Debian's packages).
    """

    def __init__(self, port: int):
        self.port = port
        self.folder = Path(tempfile.mkdtemp(prefix="travelbot-pg-"))
        self.data = self.folder / "data"
        self.bin = _postgres_bin()
        self.url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres")
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")

    def _run(self, tool: str, *args: str) -> None:
        command = [str(self.bin / tool), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise AssertionError(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            "pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.folder / "log"), "-w", "start"
        )

    def stop(self) -> None:
        """A fast shutdown: open transactions are rolled back and every client is disconnected."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def remove(self) -> None:
        with contextlib.suppress(AssertionError):
            self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


def _postgres_bin() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    if not found:
        skip_or_fail("PostgreSQL restart test", "no PostgreSQL server binaries under /usr/lib/postgresql")
    return found[-1].parent
