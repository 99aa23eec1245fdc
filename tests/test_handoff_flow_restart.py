"""Handoffs survive a restart of every process: the conversation stays paused, an agent can take it."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa

from tests.console_client import Agent, wait_for
from tests.servers import start_servers
from travelbot.users import UserStore

pytestmark = pytest.mark.slow

PASSWORD = "restart-test-password"
ANSWERED = "can i put my power bank in checked luggage?"


def test_handoff_survives_restart_of_every_process(tmp_path: Path) -> None:
    sender = f"web-{uuid.uuid4().hex[:12]}"
    with start_servers(tmp_path, console=True) as before:
        UserStore(sa.create_engine(f"sqlite:///{before.handoff_db}", future=True)).add(
            "sam", PASSWORD, "agent"
        )
        meta = next(m["custom"] for m in before.say(sender, "agent", channel="webchat") if "custom" in m)
        assert meta["decision"] == "handoff"

    with start_servers(tmp_path, console=True) as after:
        assert after.say(sender, "are you there?", channel="webchat") == []  # still paused after the restart
        assert after.console_url
        sam = Agent(after.console_url, "sam", PASSWORD)
        sam.login()
        case = wait_for("the handoff after the restart", lambda: sam.case_for(sender))
        assert case["id"] == meta["handoff_id"]
        texts = [line["text"] for line in sam.state(case["id"])["transcript"]]
        assert "are you there?" in texts

        sam.act(case["id"], "claim")
        sam.act(case["id"], "reply", "Yes, I am here.")
        updates = requests.get(
            f"{after.rasa_url}/webhooks/webchat/updates", params={"sender": sender, "after": "0"}, timeout=30
        ).json()["messages"]
        assert [m["text"] for m in updates] == ["Yes, I am here."]
        later = requests.get(
            f"{after.rasa_url}/webhooks/webchat/updates",
            params={"sender": sender, "after": str(updates[-1]["id"])},
            timeout=30,
        ).json()["messages"]
        assert later == []

        sam.act(case["id"], "resolve")
        reply = after.say(sender, ANSWERED, channel="webchat")
        assert next(m["custom"] for m in reply if "custom" in m)["entry_id"] == "power-banks"
