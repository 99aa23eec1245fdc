"""Initial schema: every table of ours as releases before migrations created them with create_all.

Revision ID: 0001
Revises:
Create Date: 2026-11-22

The tables are declared here, frozen, rather than imported from the store modules: those describe the newest
schema, this revision must keep describing the first one. travelbot.schema also compares a database made
by an older release (tables but no version table) with ``initial_schema()`` before adopting it.
"""

from __future__ import annotations

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: Union[str, Sequence[str], None] = None
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

WHEN = sa.DateTime(timezone=True)


def initial_schema() -> sa.MetaData:
    """The tables and indexes of revision 0001, on a fresh MetaData."""
    schema = sa.MetaData()
    sa.Table(
        "handoffs",
        schema,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("conversation_id", sa.String(255), nullable=False, index=True),
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("reason", sa.String(64), nullable=False),
        sa.Column("urgent", sa.Boolean, nullable=False),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("last_message", sa.Text, nullable=False),
        sa.Column("transcript", sa.Text, nullable=False),
        sa.Column("candidates", sa.Text, nullable=False),
    )
    sa.Table(
        "handoff_claims",
        schema,
        sa.Column("handoff_id", sa.Integer, primary_key=True),
        sa.Column("agent", sa.String(64), nullable=False),
        sa.Column("claimed_at", WHEN, nullable=False),
        sa.Column("resolved_by", sa.String(64), nullable=True),
        sa.Column("resolved_at", WHEN, nullable=True),
    )
    sa.Table(
        "agent_messages",
        schema,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("handoff_id", sa.Integer, nullable=False, index=True),
        sa.Column("conversation_id", sa.String(255), nullable=False, index=True),
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("author", sa.String(64), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("delivery", sa.String(255), nullable=True),
        sa.Column("created_at", WHEN, nullable=False),
    )
    sa.Table(
        "handoff_notifications",
        schema,
        sa.Column("handoff_id", sa.Integer, primary_key=True),
        sa.Column("outcome", sa.String(255), nullable=False),
        sa.Column("at", WHEN, nullable=False),
    )
    sa.Table(
        "users",
        schema,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
    )
    sa.Table(
        "optouts",
        schema,
        sa.Column("channel", sa.String(64), primary_key=True),
        sa.Column("address", sa.String(255), primary_key=True),
        sa.Column("keyword", sa.String(32), nullable=False),
        sa.Column("opted_out_at", WHEN, nullable=False),
    )
    sa.Table(
        "deliveries",
        schema,
        sa.Column("channel", sa.String(64), primary_key=True),
        sa.Column("message_id", sa.String(255), primary_key=True),
        sa.Column("received_at", WHEN, nullable=False),
    )
    sa.Table(
        "feedback",
        schema,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("sender", sa.String(255), nullable=False, index=True),
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("entry_id", sa.String(255), nullable=False, index=True),
        sa.Column("helpful", sa.Boolean, nullable=False),
        sa.Column("question", sa.Text, nullable=True),
        sa.Column("created_at", WHEN, nullable=False),
    )
    sa.Table(
        "publications",
        schema,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("version", sa.Integer, nullable=False, index=True),
        sa.Column("author", sa.String(255), nullable=False),
        sa.Column("published_at", WHEN, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("gate", sa.String(16), nullable=False),
        sa.Column("override_reason", sa.Text, nullable=True),
        sa.Column("gate_summary", sa.Text, nullable=False),
    )
    sa.Table(
        "drafts",
        schema,
        sa.Column("entry_id", sa.String(255), primary_key=True),
        sa.Column("entry", sa.Text, nullable=True),
        sa.Column("author", sa.String(255), nullable=False),
        sa.Column("saved_at", WHEN, nullable=False),
        sa.Column("revision", sa.String(32), nullable=False),
    )
    sa.Table(
        "audit_log",
        schema,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", WHEN, nullable=False, index=True),
        sa.Column("actor", sa.String(255), nullable=False, index=True),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("target", sa.String(255), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
    )
    return schema


def upgrade() -> None:
    """Create the tables an adopted older database lacks (travelbot.schema checked the ones it has)."""
    initial_schema().create_all(op.get_bind(), checkfirst=True)


def downgrade() -> None:
    initial_schema().drop_all(op.get_bind())
