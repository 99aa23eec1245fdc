"""Handoff end to end: the real Rasa server, action server and staff console (as `make run` starts them).

Web chat in Debian's headless Chromium (Playwright) and SMS with only Twilio's
API replaced by a local stand-in (tests/twilio_payloads.py): a traveler asks
for a person, an agent sees it without reloading, claims, replies on the
traveler's channel, resolves, and the bot answers the next question again.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest
import requests
import sqlalchemy as sa
from playwright.sync_api import Page, Playwright, expect

from bot.turn import FALLBACK_REASONS, Parse, decide_turn
from knowledge.corpus import load_corpus
from knowledge.policy import Decision, Policy
from tests import twilio_payloads as tw
from tests.console_client import Agent, wait_for
from tests.servers import Servers, start_servers
from tests.test_webchat_browser import REPLY_MS, open_browser, playwright  # noqa: F401 (fixture)
from travelbot.handoffs import HandoffStore
from travelbot.users import UserStore

pytestmark = pytest.mark.slow

PASSWORD = "handoff-test-password"
SMS_PATH = "/webhooks/twilio_sms/webhook"
QUESTION = "can I bring a power bank"
ANSWERED = "can i put my power bank in checked luggage?"
OFF_TOPIC = ["blorp zibble quantum", "the purple elephant sings"]
AGENT_HTML = 'Hi, I am Sam. <b>bold</b> <img src=x onerror="window.__pwned=1"> Ask me anything.'


@pytest.fixture(scope="module")
def api() -> Iterator[tw.FakeTwilioApi]:
    with tw.FakeTwilioApi() as fake:
        yield fake


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, api: tw.FakeTwilioApi) -> Iterator[Servers]:
    workdir = tmp_path_factory.mktemp("handoff")
    with start_servers(workdir, extra_env=tw.environment(api.url), console=True) as running:
        users = UserStore(sa.create_engine(f"sqlite:///{running.handoff_db}", future=True))
        users.add("sam", PASSWORD, "agent")
        users.add("kim", PASSWORD, "agent")
        yield running


@pytest.fixture
def sam(live: Servers) -> Agent:
    assert live.console_url
    agent = Agent(live.console_url, "sam", PASSWORD)
    agent.login()
    return agent


@pytest.fixture(scope="module")
def corpus() -> Any:
    return load_corpus()


def sms(live: Servers, number: str, body: str) -> None:
    pairs = tw.form("sms_text", From=number, Body=body, MessageSid=tw.new_sid())
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": tw.sign(tw.PUBLIC_BASE_URL + SMS_PATH, pairs),
    }
    reply = requests.post(live.rasa_url + SMS_PATH, data=tw.encode(pairs), headers=headers, timeout=120)
    assert reply.status_code == 200, reply.text


def bodies(api: tw.FakeTwilioApi, number: str) -> List[str]:
    return [p.form["Body"] for p in api.to(number)]


def agent_events(live: Servers, sender: str) -> List[Dict[str, Any]]:
    events = requests.get(
        f"{live.rasa_url}/conversations/{sender}/tracker",
        params={"token": live.token, "include_events": "ALL"},
        timeout=30,
    ).json()["events"]
    return [e for e in events if e["event"] == "bot" and (e.get("metadata") or {}).get("agent")]


# -- triggers ------------------------------------------------------------------------------------


def test_two_fallbacks_in_a_row_hand_off(policy: Policy) -> None:
    first, second = (decide_turn(policy, Parse(text)) for text in OFF_TOPIC)
    # Not understood either way: gibberish is off-topic or matches nothing.
    assert first.decision == Decision.DECLINE and first.outcome.reason in FALLBACK_REASONS
    assert second.decision == Decision.DECLINE and second.outcome.reason in FALLBACK_REASONS
    repeated = decide_turn(policy, Parse(OFF_TOPIC[1]), previous_fallback=True)
    assert (repeated.decision, repeated.outcome.reason) == (Decision.HANDOFF, "repeated_fallback")
    answered = decide_turn(policy, Parse(ANSWERED, "ask_question", 0.9), previous_fallback=True)
    assert answered.decision == Decision.ANSWER  # a good question after a fallback is answered


def test_two_fallbacks_pause_the_conversation_in_rasa(live: Servers) -> None:
    sender = f"rest-{uuid.uuid4().hex[:10]}"
    first = live.say(sender, OFF_TOPIC[0])
    second = live.say(sender, OFF_TOPIC[1])
    assert next(m["custom"] for m in first if "custom" in m)["decision"] == "decline"
    meta = next(m["custom"] for m in second if "custom" in m)
    assert (meta["decision"], meta["reason"]) == ("handoff", "repeated_fallback")
    assert live.say(sender, ANSWERED) == []  # handed off: the bot stays silent
    (record,) = HandoffStore(f"sqlite:///{live.handoff_db}").for_conversation(sender)
    assert record.reason == "repeated_fallback" and record.status == "waiting"


# -- SMS -----------------------------------------------------------------------------------------


def test_sms_handoff_claim_reply_resolve(
    live: Servers, api: tw.FakeTwilioApi, sam: Agent, corpus: Any
) -> None:
    number = tw.new_number()
    sms(live, number, "i want to talk to a human")
    assert len(bodies(api, number)) == 1  # the bot says what happens next
    case = wait_for("the SMS handoff in the inbox", lambda: sam.case_for(number))
    assert (case["channel"], case["reason"]) == ("twilio_sms", "requested")

    sms(live, number, "my <b>bag</b> is stuck at gate 4")
    assert len(bodies(api, number)) == 1  # no bot reply while handed off
    state = sam.state(case["id"])
    assert state["transcript"], state
    last = state["transcript"][-1]
    assert (last["role"], last["text"]) == ("traveler", "my <b>bag</b> is stuck at gate 4")
    assert state["opted_out"] is False

    kim = Agent(sam.url, "kim", PASSWORD)
    kim.login()
    assert "You have claimed" in " ".join(sam.act(case["id"], "claim"))
    assert any("already claimed by sam" in m for m in kim.act(case["id"], "claim"))

    reply = "Hi, this is Sam from the contact center. Your bag is being checked; wait at gate 4."
    assert any(m.startswith("Reply sent") for m in sam.act(case["id"], "reply", reply))
    assert bodies(api, number)[1:] == [reply]
    assert [e["text"] for e in agent_events(live, number)] == [reply]
    last = sam.state(case["id"])["transcript"][-1]
    assert (last["role"], last["agent"], last["text"]) == ("agent", "sam", reply)

    sam.act(case["id"], "resolve")
    assert sam.case_for(number, "resolved")
    sms(live, number, QUESTION)
    assert bodies(api, number)[2:] == [corpus["power-banks"].answer_sms]  # the bot is back, cleanly


def test_sms_reply_to_an_opted_out_number_is_never_sent(
    live: Servers, api: tw.FakeTwilioApi, sam: Agent
) -> None:
    number = tw.new_number()
    sms(live, number, "agent")
    case = wait_for("the SMS handoff in the inbox", lambda: sam.case_for(number))
    sms(live, number, "STOP")
    sent_before = len(api.to(number))
    sam.act(case["id"], "claim")
    assert sam.state(case["id"])["opted_out"] is True
    flashed = sam.act(case["id"], "reply", "Are you still there?")
    assert any("texted STOP" in m for m in flashed), flashed
    assert len(api.to(number)) == sent_before
    assert agent_events(live, number) == []


# -- web chat in a real browser -------------------------------------------------------------------


def test_web_chat_handoff_end_to_end_in_chromium(
    playwright: Playwright,  # noqa: F811
    live: Servers,
    tmp_path: Path,
) -> None:
    assert live.console_url
    traveler_ctx = open_browser(playwright, tmp_path / "traveler")
    agent_ctx = open_browser(playwright, tmp_path / "agent", width=1280)
    try:
        agent: Page = agent_ctx.pages[0] if agent_ctx.pages else agent_ctx.new_page()
        agent.goto(f"{live.console_url}/")
        agent.get_by_label("Name").fill("sam")
        agent.get_by_label("Password").fill(PASSWORD)
        agent.get_by_role("button", name="Sign in").click()
        expect(agent.get_by_role("heading", name="Inbox")).to_be_visible()

        traveler: Page = traveler_ctx.pages[0] if traveler_ctx.pages else traveler_ctx.new_page()
        traveler.goto(f"{live.rasa_url}/webhooks/webchat/chat")
        traveler.get_by_role("button", name="Talk to a person").click()
        expect(traveler.locator("#log .msg.bot.handoff")).to_have_count(1, timeout=REPLY_MS)
        sender = str(traveler.evaluate("sessionStorage.getItem('travelbot-sender')"))
        (record,) = HandoffStore(f"sqlite:///{live.handoff_db}").for_conversation(sender)

        # The agent's open inbox shows the new handoff without a reload, and announces it.
        row_link = agent.locator("#inbox a", has_text=str(record.id))
        expect(row_link).to_have_count(1, timeout=REPLY_MS)
        expect(agent.locator("#notify")).to_contain_text(f"#{record.id}", timeout=REPLY_MS)
        row_link.click()
        agent.get_by_role("button", name="Claim", exact=True).click()
        expect(agent.locator(".flash.info")).to_contain_text("You have claimed")

        traveler.locator("#message").fill("hello? <i>anyone</i>")
        traveler.locator("#message").press("Enter")
        # The traveler's message reaches the agent's open conversation view without a reload.
        expect(agent.locator("#transcript .line.traveler").last).to_contain_text(
            "hello? <i>anyone</i>", timeout=REPLY_MS
        )
        assert agent.locator("#transcript i").count() == 0

        agent.get_by_label("Reply to the traveler").fill(AGENT_HTML)
        agent.get_by_role("button", name="Send reply").click()
        # Sending waits for Rasa's HTTP API (the reply joins the transcript) and the channel: not instant.
        expect(agent.locator(".flash.info")).to_contain_text("Reply queued", timeout=REPLY_MS)

        shown = traveler.locator("#log .msg.agent p")
        expect(shown).to_have_count(1, timeout=REPLY_MS)
        assert shown.inner_text() == AGENT_HTML
        assert traveler.locator("#log b, #log img").count() == 0
        assert traveler.evaluate("window.__pwned") is None
        assert agent.locator("#transcript b, #transcript img").count() == 0
        expect(agent.locator("#transcript .line.agent")).to_contain_text(AGENT_HTML, timeout=REPLY_MS)

        agent.get_by_role("button", name="Resolve and hand back to the bot").click()
        expect(agent.get_by_role("heading", name="Inbox")).to_be_visible(timeout=REPLY_MS)

        before = traveler.locator("#log .msg.bot.answer").count()
        traveler.locator("#message").fill(ANSWERED)
        traveler.locator("#message").press("Enter")
        answer = traveler.locator("#log .msg.bot.answer")
        expect(answer).to_have_count(before + 1, timeout=REPLY_MS)
        assert answer.last.locator(".source a").count() == 1
        expect(traveler.locator("#log .msg.agent")).to_have_count(1)  # shown once, not replayed
    finally:
        traveler_ctx.close()
        agent_ctx.close()
