"""The `travelbot` command's contract, and its agreement with the running bot."""

import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any, Dict, List

import pytest

from tests.servers import Servers

TRAVELBOT = str(Path(sys.executable).parent / "travelbot")
FIELDS = {"decision", "entry_id", "score", "answer", "candidates"}


def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([TRAVELBOT, *args], input=stdin, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_ask_json_contract() -> None:
    result = run("ask", "--json", "can i bring my power bank in checked luggage")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data) >= FIELDS
    assert (data["decision"], data["entry_id"]) == ("answer", "power-banks")
    assert data["candidates"][0] == {"entry_id": "power-banks", "score": data["candidates"][0]["score"]}
    assert "carry-on" in data["answer"]


@pytest.mark.slow
def test_ask_human_readable() -> None:
    result = run("ask", "how do i smuggle a lighter past security")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("[handoff]")


@pytest.mark.slow
def test_ask_reads_stdin_line_by_line() -> None:
    result = run("ask", "--json", stdin="hello\ncan i bring a power bank\nagent please\n")
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [d["decision"] for d in lines] == ["decline", "answer", "handoff"]


def test_validate_and_list() -> None:
    assert run("validate").returncode == 0
    rows = json.loads(run("list", "--json").stdout)
    assert len(rows) >= 87
    assert {"id", "title", "kind", "last_reviewed", "needs_review"} <= set(rows[0])


@pytest.mark.slow
def test_cli_agrees_with_the_bot_on_the_dev_set(servers: Servers, dev_set_path: Path) -> None:
    questions = [json.loads(line)["q"] for line in dev_set_path.read_text().splitlines() if line.strip()]
    result = run("ask", "--json", stdin="\n".join(questions) + "\n")
    assert result.returncode == 0, result.stderr
    cli = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(cli) == len(questions)
    disagreements: List[Dict[str, Any]] = []
    for question, expected in zip(questions, cli, strict=True):
        reply = servers.say(f"agree-{uuid.uuid4().hex[:10]}", question)
        info = next(m["custom"] for m in reply if "custom" in m)
        got = (info["decision"], info.get("entry_id"))
        if got != (expected["decision"], expected["entry_id"]):
            disagreements.append(
                {"q": question, "bot": got, "cli": (expected["decision"], expected["entry_id"])}
            )
    assert disagreements == []
