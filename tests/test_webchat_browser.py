"""The web chat in a real headless Chromium against the real Rasa and action servers.

Debian's /usr/bin/chromium is driven by Playwright (never `playwright install`);
axe-core from tests/browser/node_modules checks accessibility. Under CI both
must be present (`make test` installs them): missing ones fail the run there
and only skip on a developer's machine.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest
import sqlalchemy as sa
from playwright.sync_api import Locator, Page, Playwright, expect

from tests.browser_fixtures import (
    REPLY_MS,
    ask,
    bot_replies,
    driven_chromium,
    missing,
    open_browser,
    wait_reply,
)
from tests.servers import Servers
from travelbot.feedback import FeedbackStore
from travelbot.handoffs import HandoffStore
from travelbot.settings import ROOT

pytestmark = pytest.mark.slow

AXE = ROOT / "tests" / "browser" / "node_modules" / "axe-core" / "axe.min.js"
ANSWERED = "can i put my power bank in checked luggage?"


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    yield from driven_chromium()


@pytest.fixture(scope="session")
def axe_source() -> str:
    if not AXE.is_file():
        missing(f"{AXE.relative_to(ROOT)} is missing (npm ci in tests/browser)")
    return AXE.read_text(encoding="utf-8")


@pytest.fixture
def page(playwright: Playwright, servers: Servers, tmp_path: Path) -> Iterator[Page]:
    context = open_browser(playwright, tmp_path / "profile")
    try:
        tab = context.pages[0] if context.pages else context.new_page()
        tab.goto(f"{servers.rasa_url}/webhooks/webchat/chat")
        yield tab
    finally:
        context.close()


def sender_of(page: Page) -> str:
    return str(page.evaluate("sessionStorage.getItem('travelbot-sender')"))


def meta_of(servers: Servers, question: str) -> Dict[str, Any]:
    """What the bot decides for the same first message over the API (a fresh conversation)."""
    reply = servers.say(f"probe-{uuid.uuid4().hex[:12]}", question, channel="webchat")
    return dict(next(m["custom"] for m in reply if "custom" in m))


def assert_answer_shows_source(reply: Locator, info: Dict[str, Any]) -> None:
    link = reply.locator(".source a")
    assert link.get_attribute("href") == info["source_url"]
    assert link.inner_text().startswith(f"Source: {info['title']}")
    reviewed = reply.locator(".reviewed time")
    assert reviewed.get_attribute("datetime") == info["last_reviewed"]
    assert reviewed.inner_text().strip()
    assert reply.locator(".reviewed").is_visible()


def test_keyboard_only_question_gets_an_answer_with_source_and_date(page: Page, servers: Servers) -> None:
    info = meta_of(servers, ANSWERED)
    assert info["decision"] == "answer", info
    for _ in range(6):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "message":
            break
    assert page.evaluate("document.activeElement.id") == "message", "Tab never reached the question box"
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none", "the focused question box shows no focus outline"
    page.keyboard.type(ANSWERED)
    page.keyboard.press("Enter")
    reply = wait_reply(page, 0)
    assert_answer_shows_source(reply, info)
    assert reply.locator(".feedback button").count() == 2
    assert page.evaluate("document.activeElement.id") == "message"  # ready for the next question
    assert page.locator("#log .msg.me").inner_text().endswith(ANSWERED)


def test_thumbs_down_is_stored_and_shown_pressed(page: Page, servers: Servers) -> None:
    info = meta_of(servers, ANSWERED)
    reply = ask(page, ANSWERED)
    helpful = reply.get_by_role("button", name="Helpful", exact=True)
    not_helpful = reply.get_by_role("button", name="Not helpful", exact=True)
    assert helpful.get_attribute("aria-pressed") == not_helpful.get_attribute("aria-pressed") == "false"
    not_helpful.click()
    expect(reply.get_by_role("status")).to_have_text("Thanks for your feedback.", timeout=REPLY_MS)
    assert not_helpful.get_attribute("aria-pressed") == "true"
    assert helpful.get_attribute("aria-pressed") == "false"

    store = FeedbackStore(sa.create_engine(f"sqlite:///{servers.handoff_db}", future=True))
    votes = store.votes(sender_of(page))
    assert [(v.entry_id, v.helpful, v.question, v.channel) for v in votes] == [
        (info["entry_id"], False, ANSWERED, "webchat")
    ]


def test_clarify_offers_choice_buttons_that_answer(
    page: Page, servers: Servers, clarify_question: Dict[str, Any]
) -> None:
    reply = ask(page, clarify_question["question"])
    choices = reply.locator(".choices button")
    expect(choices).to_have_count(len(clarify_question["choices"]))
    titles = choices.all_inner_texts()
    # Keyboard: from the question box, Shift+Tab reaches the last choice and Enter picks it.
    page.locator("#message").focus()
    page.keyboard.press("Shift+Tab")
    picked = page.evaluate("document.activeElement.textContent")
    assert picked == titles[-1]
    page.keyboard.press("Enter")
    answer = wait_reply(page, 1)
    assert answer.locator(".source a").inner_text().startswith(f"Source: {picked}")
    assert answer.locator(".reviewed time").get_attribute("datetime")


def test_talk_to_a_person_hands_off(page: Page, servers: Servers) -> None:
    ask(page, ANSWERED)
    page.get_by_role("button", name="Talk to a person").click()
    reply = wait_reply(page, 1)
    assert "handoff" in (reply.get_attribute("class") or "")
    assert "person" in reply.inner_text()
    records = HandoffStore(f"sqlite:///{servers.handoff_db}").for_conversation(sender_of(page))
    assert [(r.reason, r.channel) for r in records] == [("requested", "webchat")]
    assert records[0].transcript[0]["text"] == ANSWERED


def test_messages_are_shown_as_text_never_as_html(page: Page) -> None:
    attack = '<img src=x onerror="window.__pwned=1"><b>bold</b> can i bring scissors'
    ask(page, attack)
    assert page.locator("#log img, #log b").count() == 0
    assert page.locator("#log .msg.me p").inner_text() == attack
    assert page.evaluate("window.__pwned") is None


def violations(page: Page, axe_source: str) -> List[Dict[str, Any]]:
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(content=axe_source)
    found = page.evaluate(
        """async () => (await axe.run(document, {resultTypes: ['violations']})).violations
              .map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.length, help: v.help}))"""
    )
    return list(found)


def test_whole_conversation_fits_320px_and_passes_axe(
    playwright: Playwright,
    axe_source: str,
    servers: Servers,
    tmp_path: Path,
    clarify_question: Dict[str, Any],
) -> None:
    context = open_browser(playwright, tmp_path / "profile", width=320)
    try:
        page = context.pages[0] if context.pages else context.new_page()
        page.goto(f"{servers.rasa_url}/webhooks/webchat/chat")
        answer = ask(page, ANSWERED)
        answer.get_by_role("button", name="Not helpful", exact=True).click()
        expect(answer.get_by_role("status")).to_have_text("Thanks for your feedback.", timeout=REPLY_MS)
        clarify = ask(page, clarify_question["question"])
        expect(clarify.locator(".choices button")).to_have_count(len(clarify_question["choices"]))
        page.get_by_role("button", name="Talk to a person").click()
        expect(bot_replies(page).nth(2)).to_have_class("msg bot handoff", timeout=REPLY_MS)

        widths = page.evaluate(
            "({scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth})"
        )
        assert widths["client"] == 320 and widths["scroll"] <= widths["client"], widths
        page.mouse.wheel(200, 0)
        assert page.evaluate("window.scrollX") == 0

        report: Dict[str, List[Dict[str, Any]]] = {"320px": violations(page, axe_source)}
        page.set_viewport_size({"width": 1280, "height": 800})
        report["1280px"] = violations(page, axe_source)
    finally:
        context.close()
    for width, found in report.items():
        impacts = ("critical", "serious", "moderate", "minor")
        counts = {impact: sum(1 for v in found if v["impact"] == impact) for impact in impacts}
        print(f"axe-core at {width}: {counts} {[(v['id'], v['impact'], v['nodes']) for v in found]}")
    serious = [v for found in report.values() for v in found if v["impact"] in ("serious", "critical")]
    assert serious == [], serious
