"""Our tables' schema, kept up to date by Alembic (travelbot/migrations), and the ``travelbot db`` command.

Every store calls ``ensure_schema(engine)`` before using its tables: the first call for a database in this
process upgrades it to the newest revision, later ones return at once. Several processes start together
(Rasa server, action servers, console), so the upgrade runs under a lock only one of them holds: a
PostgreSQL advisory lock held by the migrating transaction, or a lock file beside the SQLite database.
A database made by a release from before migrations (our tables, no version table) is adopted when the
tables it has match revision 0001; the tables it lacks are then created by that revision.

Rasa's tracker tables can share the database (scaled mode); they are never compared or migrated.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import threading
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Set

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from filelock import FileLock, Timeout

from travelbot.settings import ConfigError, settings
from travelbot.sqlite_engine import store_engine

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
VERSION_TABLE = "travelbot_alembic_version"  # not "alembic_version": the database may hold others' too
INITIAL_REVISION = "0001"
# Every module that declares tables on travelbot.handoffs.metadata (what autogenerate compares against).
TABLE_MODULES = (
    "travelbot.handoffs",
    "travelbot.casework",
    "travelbot.users",
    "travelbot.optouts",
    "travelbot.deliveries",
    "travelbot.feedback",
    "travelbot.publications",
    "travelbot.drafts",
    "travelbot.audit",
    "console.notifier",
)
ADVISORY_LOCK_KEY = 0x74726176656C  # "travel": one PostgreSQL-wide key for our schema upgrades
LOCK_WAIT_S = 300  # another process's upgrade is a few seconds; this only bounds a stuck one

_guard = threading.Lock()
_url_locks: Dict[str, threading.Lock] = {}
_upgraded: Set[str] = set()


class SchemaError(Exception):
    """The database cannot be reached or upgraded; the message names it (without its password)."""


def alembic_config() -> Config:
    """Alembic's configuration, built here so it works from an installed package and any directory."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def head_revision() -> Optional[str]:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def full_metadata() -> sa.MetaData:
    """The newest schema: the shared metadata with every table module imported."""
    for module in TABLE_MODULES:
        importlib.import_module(module)
    from travelbot.handoffs import metadata

    return metadata


def only_our_tables(metadata: sa.MetaData) -> Callable[..., bool]:
    """An Alembic ``include_name`` hook that leaves out every table not in ``metadata`` (Rasa's)."""

    def include(name: Optional[str], type_: str, parent_names: Dict[str, Any]) -> bool:
        return type_ != "table" or name in metadata.tables

    return include


def where(engine: sa.engine.Engine) -> str:
    return engine.url.render_as_string(hide_password=True)


def _sqlite_file(url: sa.engine.URL) -> Optional[Path]:
    """The file of a SQLite database; None for any other database or an in-memory one."""
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    name = url.database.removeprefix("file:").split("?")[0] if url.query.get("uri") else url.database
    return None if "mode=memory" in url.database else Path(name)


def _cache_key(engine: sa.engine.Engine) -> Optional[str]:
    """What identifies this database in this process; None when it cannot be cached (in memory, or a
    SQLite file not created yet). A SQLite file replaced at the same path is a new database."""
    url = engine.url.render_as_string(hide_password=False)
    if engine.url.get_backend_name() != "sqlite":
        return url
    path = _sqlite_file(engine.url)
    if path is None or not path.exists():
        return None
    stat = path.stat()
    return f"{url}#{stat.st_dev}:{stat.st_ino}"


def ensure_schema(engine: sa.engine.Engine) -> None:
    """Upgrade the database to the newest revision, once per database per process."""
    key = _cache_key(engine)
    if key is not None and key in _upgraded:
        return
    with _guard:
        url_lock = _url_locks.setdefault(engine.url.render_as_string(hide_password=False), threading.Lock())
    with url_lock:
        key = _cache_key(engine)
        if key is not None and key in _upgraded:
            return
        try:
            _upgrade_locked(engine)
        except sa.exc.DBAPIError as exc:
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            raise SchemaError(f"cannot upgrade the database {where(engine)}: {reason}") from exc
        key = _cache_key(engine)
        if key is not None:
            _upgraded.add(key)


def _upgrade_locked(engine: sa.engine.Engine) -> None:
    """Upgrade while holding the lock that keeps other processes from upgrading at the same time."""
    path = _sqlite_file(engine.url)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(sa.text(f"SET LOCAL lock_timeout = '{LOCK_WAIT_S}s'"))
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(ADVISORY_LOCK_KEY)))  # until commit
            _upgrade(conn)
    elif path is not None:
        try:
            with FileLock(f"{path}.schema-lock", timeout=LOCK_WAIT_S), engine.begin() as conn:
                _upgrade(conn)
        except Timeout as exc:
            raise SchemaError(f"another process kept the schema lock of {where(engine)} too long") from exc
        except OSError as exc:  # e.g. the database's folder does not exist
            raise SchemaError(f"cannot lock the database {where(engine)} for its upgrade: {exc}") from exc
    else:
        with engine.begin() as conn:
            _upgrade(conn)


def _upgrade(conn: sa.engine.Connection) -> None:
    """Adopt an older release's tables if need be, then run every migration not run yet."""
    context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
    if context.get_current_revision() is None:
        _check_adoptable(conn)
    config = alembic_config()
    config.attributes["connection"] = conn
    command.upgrade(config, "head")


def _check_adoptable(conn: sa.engine.Connection) -> None:
    """Raise SchemaError unless every table of ours already in this unversioned database is as revision
    0001 has it (so running 0001, which creates only the missing tables, brings it to that revision)."""
    initial = ScriptDirectory.from_config(alembic_config()).get_revision(INITIAL_REVISION).module
    schema: sa.MetaData = initial.initial_schema()
    present = sa.MetaData()  # the tables of 0001 this database has, to compare with
    for name in set(sa.inspect(conn).get_table_names()) & set(schema.tables):
        schema.tables[name].to_metadata(present)
    if not present.tables:
        return
    context = MigrationContext.configure(
        conn, opts={"include_name": only_our_tables(present), "compare_type": True}
    )
    differences = compare_metadata(context, present)
    if differences:
        listed = "; ".join(str(diff) for diff in differences)
        raise SchemaError(
            f"the tables in {conn.engine.url.render_as_string(hide_password=True)} were made by an older "
            f"release but differ from its schema, so they are left alone: {listed}"
        )


def current_revision(engine: sa.engine.Engine) -> Optional[str]:
    with engine.connect() as conn:
        return MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE}).get_current_revision()


def _engine() -> sa.engine.Engine:
    return store_engine(settings().storage.url())


def cmd_db_upgrade(_: argparse.Namespace) -> int:
    try:
        engine = _engine()
        ensure_schema(engine)
        print(f"{where(engine)}: at revision {current_revision(engine)} (head)")
    except (ConfigError, SchemaError) as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


def cmd_db_current(_: argparse.Namespace) -> int:
    try:
        engine = _engine()
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    try:
        revision = current_revision(engine)
    except sa.exc.DBAPIError as exc:
        print(f"cannot read the schema version of {where(engine)}: {exc.orig}", file=sys.stderr)
        return 1
    head = head_revision()
    state = "up to date" if revision == head else f"behind head {head}: run `travelbot db upgrade`"
    print(f"{where(engine)}: at revision {revision or 'none'} ({state})")
    return 0 if revision == head else 1


def cmd_db_revision(args: argparse.Namespace) -> int:
    """Write a new revision file comparing the upgraded database with the newest table definitions."""
    engine = _engine()
    ensure_schema(engine)
    config = alembic_config()
    config.attributes["target_metadata"] = full_metadata()
    # Leave the new file as the linters want it (sorted imports, unused ones removed, formatted).
    ruff = Path(sys.executable).with_name("ruff")  # a development tool: absent from a production install
    config.set_section_option("post_write_hooks", "hooks", "lint, format" if ruff.exists() else "")
    for hook, options in (("lint", "check --fix --quiet"), ("format", "format --quiet")):
        config.set_section_option("post_write_hooks", f"{hook}.type", "exec")
        config.set_section_option("post_write_hooks", f"{hook}.executable", str(ruff))
        config.set_section_option(
            "post_write_hooks", f"{hook}.options", f"{options} REVISION_SCRIPT_FILENAME"
        )
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        written = command.revision(config, message=args.message, autogenerate=True)
    for script in written if isinstance(written, list) else [written]:
        print(f"wrote {script.path}: review it before committing" if script else "nothing written")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``db`` command to the ``travelbot`` parser."""
    db = sub.add_parser("db", help="our tables' schema (Alembic migrations)")
    actions = db.add_subparsers(dest="db_command", required=True)
    p = actions.add_parser("upgrade", help="upgrade the database to the newest revision")
    p.set_defaults(func=cmd_db_upgrade)
    p = actions.add_parser("current", help="the database's revision; non-zero exit when behind")
    p.set_defaults(func=cmd_db_current)
    p = actions.add_parser("revision", help="for developers: write a migration for changed table definitions")
    p.add_argument("-m", "--message", required=True, help="what the migration does")
    p.set_defaults(func=cmd_db_revision)
