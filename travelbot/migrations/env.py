"""Alembic's entry point, run by travelbot.schema (never with an alembic.ini).

The caller hands over an open connection (``config.attributes["connection"]``) so the migration runs inside
the lock and transaction travelbot.schema holds. Only tables of ours are ever compared or migrated: Rasa's
tracker tables may share the database in scaled mode, and autogenerate must not propose dropping them.
"""

from __future__ import annotations

from alembic import context

from travelbot.schema import VERSION_TABLE, only_our_tables

config = context.config
connection = config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `travelbot db upgrade`, which supplies the database connection")
target_metadata = config.attributes.get("target_metadata")  # set only when autogenerating a revision

context.configure(
    connection=connection,
    target_metadata=target_metadata,
    version_table=VERSION_TABLE,
    render_as_batch=True,  # SQLite cannot ALTER most things: later revisions copy-and-move tables
    compare_type=True,
    include_name=only_our_tables(target_metadata) if target_metadata is not None else None,
)
with context.begin_transaction():
    context.run_migrations()
