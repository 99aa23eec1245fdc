"""Staff console accounts: names, argon2 password hashes and roles.

Roles, from least to most trusted:
- editor: reads the inbox and conversations (to improve the corpus), cannot act on them;
- agent: also claims conversations, replies, writes notes and hands back to the bot;
- admin: also releases or resolves another agent's claim.
Accounts are created from the command line (``travelbot user add``), never over the web.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import List, Optional

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from travelbot.handoffs import metadata
from travelbot.schema import ensure_schema

ROLES = ("editor", "agent", "admin")
MIN_PASSWORD_CHARS = 10
NAME_CHARS = 64

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(NAME_CHARS), nullable=False, unique=True),
    sa.Column("password_hash", sa.String(255), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("active", sa.Boolean, nullable=False, default=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)


class UserError(ValueError):
    """A user could not be created or changed; the message says why."""


@dataclass(frozen=True)
class User:
    id: int
    name: str
    role: str
    active: bool = True

    def can_act(self) -> bool:
        """May claim, reply, note and resolve."""
        return self.role in ("agent", "admin")

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    # What Flask-Login asks of a user object (the console signs users in with it).
    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return str(self.id)


class UserStore:
    def __init__(self, engine: sa.engine.Engine, hasher: Optional[PasswordHasher] = None):
        self.engine = engine
        self.hasher = hasher or PasswordHasher()
        ensure_schema(engine)

    def add(self, name: str, password: str, role: str) -> User:
        name = name.strip()
        if not name or len(name) > NAME_CHARS or not name.replace("-", "").replace(".", "").isalnum():
            raise UserError(f"name must be 1-{NAME_CHARS} letters, digits, '-' or '.'")
        if role not in ROLES:
            raise UserError(f"role must be one of {', '.join(ROLES)}")
        if len(password) < MIN_PASSWORD_CHARS:
            raise UserError(f"password must have at least {MIN_PASSWORD_CHARS} characters")
        with self.engine.begin() as conn:
            if conn.execute(sa.select(users.c.id).where(users.c.name == name)).first():
                raise UserError(f"user {name!r} already exists")
            result = conn.execute(
                users.insert().values(
                    name=name,
                    password_hash=self.hasher.hash(password),
                    role=role,
                    active=True,
                    created_at=dt.datetime.now(dt.timezone.utc),
                )
            )
        return User(int(result.inserted_primary_key[0]), name, role)

    def get(self, user_id: int) -> Optional[User]:
        with self.engine.connect() as conn:
            row = conn.execute(users.select().where(users.c.id == user_id)).mappings().first()
        return User(row["id"], row["name"], row["role"], bool(row["active"])) if row else None

    def authenticate(self, name: str, password: str) -> Optional[User]:
        """The active user with this name and password, else None (same answer for either mistake)."""
        with self.engine.connect() as conn:
            row = conn.execute(users.select().where(users.c.name == name.strip())).mappings().first()
        if row is None or not row["active"]:
            # Hash anyway so a missing name takes as long as a wrong password.
            self.hasher.hash(password)
            return None
        try:
            self.hasher.verify(row["password_hash"], password)
        except (VerificationError, InvalidHashError):
            return None
        if self.hasher.check_needs_rehash(row["password_hash"]):
            with self.engine.begin() as conn:
                new_hash = self.hasher.hash(password)
                conn.execute(users.update().where(users.c.id == row["id"]).values(password_hash=new_hash))
        return User(row["id"], row["name"], row["role"], True)

    def listing(self) -> List[User]:
        with self.engine.connect() as conn:
            rows = conn.execute(users.select().order_by(users.c.name)).mappings().all()
        return [User(r["id"], r["name"], r["role"], bool(r["active"])) for r in rows]
