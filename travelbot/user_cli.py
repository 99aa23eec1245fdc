"""`travelbot user add NAME --role ROLE` and `travelbot user list`: staff console accounts.

The password comes from a prompt (typed twice, not echoed) or, for scripts,
from the first line of stdin with --password-stdin; never from an argument,
which would land in the shell history and the process list.
"""

from __future__ import annotations

import argparse
import getpass
import sys

from travelbot.users import ROLES, UserError, UserStore


def _store() -> UserStore:
    from travelbot import runtime

    return UserStore(runtime.handoff_store().engine)


def _password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass(f"password for {args.name}: ")
    if getpass.getpass("again: ") != first:
        raise UserError("the two passwords differ")
    return first


def cmd_user_add(args: argparse.Namespace) -> int:
    try:
        user = _store().add(args.name, _password(args), args.role)
    except UserError as exc:
        print(f"user not added: {exc}", file=sys.stderr)
        return 1
    print(f"added {user.name} ({user.role})")
    return 0


def cmd_user_list(_: argparse.Namespace) -> int:
    for user in _store().listing():
        print(f"{user.name:<24} {user.role:<8} {'active' if user.active else 'disabled'}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``user`` command to the ``travelbot`` parser."""
    user = sub.add_parser("user", help="staff console accounts")
    actions = user.add_subparsers(dest="user_command", required=True)
    p = actions.add_parser("add", help="create an account (password from a prompt or --password-stdin)")
    p.add_argument("name")
    p.add_argument("--role", choices=ROLES, required=True)
    p.add_argument("--password-stdin", action="store_true", help="read the password from stdin's first line")
    p.set_defaults(func=cmd_user_add)
    p = actions.add_parser("list", help="list the accounts")
    p.set_defaults(func=cmd_user_list)
