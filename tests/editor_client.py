"""FAQ editor test helpers: a corpus copy, a console app pointed at it, signed-in clients, form data."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any, Dict, Iterator, List

from flask import Flask
from flask.testing import FlaskClient

from console import ConsoleSecrets, create_app
from knowledge.corpus import CORPUS_DIR
from knowledge.schema import Entry
from travelbot.casework import CaseStore
from travelbot.handoffs import HandoffStore
from travelbot.settings import ROOT, Settings
from travelbot.users import UserStore

PASSWORD = "correct horse battery"
SECRETS = ConsoleSecrets.parse_obj({"secret_key": "k" * 40, "rasa_token": "test-token"})
_TOKEN = re.compile(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"')
EDITED = "cheese-creamy"  # a TSA item: retiring it must be refused


def copy_corpus(root: Path) -> Path:
    corpus_dir = root / "knowledge" / "corpus"
    shutil.copytree(CORPUS_DIR, corpus_dir)
    (root / "knowledge" / "regression").mkdir()
    return corpus_dir


def copy_index(root: Path) -> None:
    """Copy the built index, its embedding cache and the gate's cached parses from var/ into ``root``."""
    for name in ("index", "index-embeddings.npz", "index-gate-parses.json"):
        source = ROOT / "var" / name
        if source.is_dir():
            shutil.copytree(source, root / name)
        elif source.exists():
            shutil.copy(source, root / name)


def settings_for(root: Path) -> Settings:
    return Settings.parse_obj(
        {
            "corpus_dir": str(root / "knowledge" / "corpus"),
            "index_dir": str(root / "index"),
            "storage": {"backend": "sqlite", "sqlite_path": str(root / "travelbot.db")},
        }
    )


def make_app(config: Settings) -> Flask:
    engine = HandoffStore(config.storage.url()).engine
    users = UserStore(engine)
    for name, role in (("alice", "agent"), ("eve", "editor"), ("root", "admin")):
        users.add(name, PASSWORD, role)
    return create_app(config, SECRETS, users, CaseStore(engine), rasa_url="http://127.0.0.1:9")


def token(client: FlaskClient, path: str) -> str:
    found = _TOKEN.search(client.get(path).get_data(as_text=True))
    assert found, path
    return found.group(1)


def login(client: FlaskClient, name: str) -> None:
    reply = client.post(
        "/login", data={"name": name, "password": PASSWORD, "csrf_token": token(client, "/login")}
    )
    assert reply.status_code == 302, reply.get_data(as_text=True)[:500]


def form_of(entry: Entry, **changes: Any) -> Dict[str, Any]:
    """The edit form's fields for ``entry`` as a browser posts them (lists one per line, \\r\\n breaks)."""
    data: Dict[str, Any] = {
        "kind": entry.kind.value,
        "title": entry.title,
        "phrasings": "\r\n".join(entry.phrasings),
        "aliases": "\r\n".join(entry.aliases),
        "answer": entry.answer.replace("\n", "\r\n"),
        "answer_sms": entry.answer_sms,
        "carry_on": entry.carry_on.value if entry.carry_on else "",
        "checked": entry.checked.value if entry.checked else "",
        "source_url": entry.source_url,
        "last_reviewed": entry.last_reviewed.isoformat(),
        "related": "\r\n".join(entry.related),
        "review_note": entry.review_note or "",
    }
    if entry.needs_review:
        data["needs_review"] = "y"
    data.update(changes)
    return data


def field_errors(html: str, field: str) -> List[str]:
    return re.findall(
        rf'<p class="flash error field-error" id="error-{field}-\d+" data-field="{field}">([^<]*)</p>', html
    )


def signed_in(app: Flask, name: str) -> Iterator[FlaskClient]:
    with app.test_client() as client:
        login(client, name)
        yield client
