"""Our tables come from Alembic migrations, and the migrated schema is exactly what the stores declare.

The comparison with ``alembic.autogenerate.compare_metadata`` fails as soon as someone changes a table in a
store module without writing a migration (`travelbot db revision -m "..."`). PostgreSQL runs on this machine
(a fresh database per test, dropped after); where it cannot be reached its tests skip on a developer's
machine and FAIL under CI (CI=true), as in test_scaled_mode.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Iterator, List

import pytest
import sqlalchemy as sa
import yaml
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from tests.postgres import fresh_database
from tests.servers import free_port
from travelbot.handoffs import Handoff, HandoffStore
from travelbot.schema import (
    INITIAL_REVISION,
    VERSION_TABLE,
    SchemaError,
    alembic_config,
    current_revision,
    ensure_schema,
    full_metadata,
    head_revision,
    only_our_tables,
)
from travelbot.settings import ROOT

SUBPROCESS_TIMEOUT_S = 180
RASA_TABLE = "events"  # what Rasa's SQL tracker store keeps in the same database in scaled mode

# One process of the concurrency test: get ready (imports), wait for the go line, upgrade, report.
UPGRADER = """
import sys
import sqlalchemy as sa
from travelbot.schema import current_revision, ensure_schema
engine = sa.create_engine(sys.argv[1], future=True)
print("ready", flush=True)
sys.stdin.readline()
ensure_schema(engine)
print("done", current_revision(engine), flush=True)
"""


def schema_differences(engine: sa.engine.Engine, metadata: sa.MetaData) -> List[object]:
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"include_name": only_our_tables(metadata), "compare_type": True}
        )
        return list(compare_metadata(context, metadata))


def initial_schema() -> sa.MetaData:
    """Revision 0001's tables: what releases before migrations made with create_all."""
    module = ScriptDirectory.from_config(alembic_config()).get_revision(INITIAL_REVISION).module
    schema: sa.MetaData = module.initial_schema()
    return schema


def version_rows(engine: sa.engine.Engine) -> List[str]:
    with engine.connect() as conn:
        return list(conn.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars())


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database, dropped afterwards."""
    with fresh_database("travelbot_migrations", "PostgreSQL migration tests") as url:
        yield url


def sqlite_engine(path: Path) -> sa.engine.Engine:
    return sa.create_engine(f"sqlite:///{path}", future=True)


def test_the_migrations_form_one_line_ending_at_head() -> None:
    scripts = ScriptDirectory.from_config(alembic_config())
    assert len(scripts.get_heads()) == 1, "two migrations branch from the same revision: merge them"
    assert scripts.get_base() == INITIAL_REVISION


def test_an_empty_sqlite_database_is_migrated_to_the_declared_tables(tmp_path: Path) -> None:
    engine = sqlite_engine(tmp_path / "fresh.db")
    ensure_schema(engine)
    assert current_revision(engine) == head_revision()
    assert schema_differences(engine, full_metadata()) == [], "a table changed without a migration"


def test_an_empty_postgresql_database_is_migrated_and_rasa_tables_are_left_alone(postgres_url: str) -> None:
    engine = sa.create_engine(postgres_url, future=True)
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE TABLE {RASA_TABLE} (id SERIAL PRIMARY KEY, data TEXT)"))
    try:
        ensure_schema(engine)
        assert current_revision(engine) == head_revision()
        assert schema_differences(engine, full_metadata()) == [], "a table changed without a migration"
        assert RASA_TABLE in sa.inspect(engine).get_table_names()
    finally:
        engine.dispose()


def test_the_comparison_notices_a_column_added_without_a_migration(tmp_path: Path) -> None:
    engine = sqlite_engine(tmp_path / "fresh.db")
    ensure_schema(engine)
    changed = sa.MetaData()
    for table in full_metadata().sorted_tables:
        table.to_metadata(changed)
    changed.tables["handoffs"].append_column(sa.Column("language", sa.String(8), nullable=True))
    (difference,) = schema_differences(engine, changed)
    assert difference[0] == "add_column" and difference[3].name == "language"  # type: ignore[index]


def test_a_database_made_before_migrations_is_adopted_and_keeps_its_rows(tmp_path: Path) -> None:
    """An older release made only some tables (the store it used); the rest are created on adoption."""
    path = tmp_path / "old.db"
    old = initial_schema()
    legacy = sqlite_engine(path)
    old.create_all(legacy, tables=[old.tables["handoffs"], old.tables["users"]])
    with legacy.begin() as conn:
        conn.execute(
            old.tables["handoffs"]
            .insert()
            .values(
                conversation_id="web-1",
                channel="webchat",
                reason="requested",
                urgent=False,
                status="waiting",
                created_at=sa.func.current_timestamp(),
                last_message="a person please",
                transcript="[]",
                candidates="[]",
            )
        )
    store = HandoffStore(f"sqlite:///{path}")
    assert version_rows(store.engine) == [head_revision()]
    assert [h.last_message for h in store.for_conversation("web-1")] == ["a person please"]
    assert schema_differences(store.engine, full_metadata()) == []
    store.record(Handoff(conversation_id="web-1", channel="webchat", reason="again", last_message="hello?"))
    assert len(store.for_conversation("web-1")) == 2


def test_older_tables_that_differ_are_left_alone_with_an_error_naming_the_database(tmp_path: Path) -> None:
    path = tmp_path / "odd.db"
    engine = sqlite_engine(path)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE handoffs (id INTEGER PRIMARY KEY, note TEXT)"))
    with pytest.raises(SchemaError, match=f"{path}.*differ") as raised:
        ensure_schema(engine)
    assert "handoffs" in str(raised.value)
    assert sa.inspect(engine).get_table_names() == ["handoffs"]


def test_an_unreachable_database_is_named_without_its_password() -> None:
    port = free_port()  # nothing listens there
    engine = sa.create_engine(f"postgresql://bot:s3cret-pw@127.0.0.1:{port}/travelbot", future=True)
    with pytest.raises(SchemaError) as raised:
        ensure_schema(engine)
    assert f"postgresql://bot:***@127.0.0.1:{port}/travelbot" in str(raised.value)
    assert "s3cret-pw" not in str(raised.value)


def test_threads_upgrading_one_database_at_once_all_succeed(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'threads.db'}"
    errors: List[BaseException] = []
    start = threading.Barrier(4)

    def upgrade() -> None:
        engine = sa.create_engine(url, future=True)
        start.wait()
        try:
            ensure_schema(engine)
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=upgrade) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=SUBPROCESS_TIMEOUT_S)
    assert errors == []
    assert version_rows(sa.create_engine(url)) == [head_revision()]


def upgrade_from_processes(url: str, count: int = 2) -> List[str]:
    """Start ``count`` processes, let them all import first, then release them to upgrade at once."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", UPGRADER, url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(count)
    ]
    try:
        for process in processes:
            assert process.stdout is not None
            assert process.stdout.readline().strip() == "ready", process.stderr
        for process in processes:
            assert process.stdin is not None
            process.stdin.write("go\n")
            process.stdin.flush()
        outcomes = [process.communicate(timeout=SUBPROCESS_TIMEOUT_S) for process in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
    for process, (_, stderr) in zip(processes, outcomes, strict=True):
        assert process.returncode == 0, stderr
    return [stdout.strip() for stdout, _ in outcomes]


def test_two_processes_upgrading_one_sqlite_database_at_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    assert upgrade_from_processes(url) == [f"done {head_revision()}"] * 2
    engine = sa.create_engine(url, future=True)
    assert version_rows(engine) == [head_revision()]
    assert schema_differences(engine, full_metadata()) == []


def test_two_processes_upgrading_one_postgresql_database_at_once(postgres_url: str) -> None:
    assert upgrade_from_processes(postgres_url) == [f"done {head_revision()}"] * 2
    engine = sa.create_engine(postgres_url, future=True)
    try:
        assert version_rows(engine) == [head_revision()]
        assert schema_differences(engine, full_metadata()) == []
    finally:
        engine.dispose()


def run_cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    """`travelbot db ...` from another directory, on a database in tmp_path."""
    config = yaml.safe_load((ROOT / "travelbot.yml").read_text())
    config["storage"] = {"backend": "sqlite", "sqlite_path": str(tmp_path / "cli.db")}
    config_file = tmp_path / "travelbot.yml"
    config_file.write_text(yaml.safe_dump(config))
    env = dict(os.environ, PYTHONPATH=str(ROOT), TRAVELBOT_CONFIG=str(config_file))
    command = [sys.executable, "-m", "travelbot.cli", "db", *args]
    return subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT_S
    )


def test_the_db_command_reports_and_upgrades_the_revision(tmp_path: Path) -> None:
    before = run_cli(tmp_path, "current")
    assert before.returncode == 1 and "at revision none" in before.stdout, before
    upgraded = run_cli(tmp_path, "upgrade")
    assert upgraded.returncode == 0 and f"at revision {head_revision()}" in upgraded.stdout, upgraded
    after = run_cli(tmp_path, "current")
    assert after.returncode == 0 and "up to date" in after.stdout, after
    assert schema_differences(sqlite_engine(tmp_path / "cli.db"), full_metadata()) == []
