"""The FAQ editor in a real headless Chromium (issue 6), from sign-in to the web chat's next answer.

The staff console, the Rasa server and the action server run as `make run` starts them, on a corpus copy with
its unchanged files published (version 1). An editor signs in, edits an entry's web answer (watching the live
reading grade, which console/static/editor.js asks the server for while they type), saves the draft,
previews it, publishes it with a reason, and then asks the web chat: the reply carries the new text.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Iterator, Tuple

import pytest
import sqlalchemy as sa
from playwright.sync_api import Locator, Page, Playwright, expect

from knowledge.validate import MAX_GRADE_WEB, reading_grade
from tests.browser_fixtures import PublishedCopy, ask, driven_chromium, open_browser, published_copy
from tests.servers import Servers, start_servers
from travelbot.settings import ROOT
from travelbot.users import UserStore

pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]  # three servers and a gated publication

EDITOR, PASSWORD = "edna", "correct horse battery"
ENTRY = "smart-luggage"
QUESTION = "can i bring smart luggage on a plane"
NEW_SENTENCE = "Some airlines ask you to show that the battery comes out."
HARD_SENTENCE = (
    "Notwithstanding considerable organizational variability, international transportation authorities "
    "characteristically necessitate comprehensive documentation substantiating battery removability."
)
SCORE_MS = 60_000  # a reading grade from the console on a busy machine (not an assertion)
PAGE_MS = 300_000  # a preview loads the sentence model on first use
PUBLISH_MS = 900_000  # validate, build, and gate with the Rasa NLU model loaded for the first time
CHAT_PATH = "/webhooks/webchat/chat"


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    yield from driven_chromium()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tuple[PublishedCopy, Servers]]:
    workdir = tmp_path_factory.mktemp("editor-browser")
    copy = published_copy(workdir)
    with start_servers(workdir, extra_env=copy.server_env, console=True) as servers:
        UserStore(sa.create_engine(f"sqlite:///{servers.handoff_db}", future=True)).add(
            EDITOR, PASSWORD, "editor"
        )
        yield copy, servers


def grade_text(text: str) -> str:
    """What editor.js shows for the web answer's reading grade (the server's grade, one decimal)."""
    grade = round(reading_grade(text), 1)
    verdict = "OK" if grade <= MAX_GRADE_WEB else "too hard, use shorter sentences and simpler words"
    return f"Reading grade {grade:.1f} (at most {MAX_GRADE_WEB:g}): {verdict}."


def sign_in(page: Page, console_url: str) -> None:
    page.goto(f"{console_url}/login")
    page.get_by_label("Name").fill(EDITOR)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator(".top .who")).to_have_text(f"{EDITOR} (editor)")


def type_while_watching_the_grade(page: Page, old_answer: str, new_answer: str) -> None:
    """Typing a hard sentence turns the live grade to "too hard"; the final text is scored again."""
    box, grade = page.locator("#answer"), page.locator("#grade-answer")
    expect(grade).to_have_text(grade_text(old_answer), timeout=SCORE_MS)  # asked once when the page opens
    expect(grade).to_have_attribute("data-ok", "yes")
    box.focus()
    page.keyboard.press("Control+End")
    box.press_sequentially(f"\n\n{HARD_SENTENCE}", delay=5)
    hard_text = box.input_value()
    assert hard_text.endswith(HARD_SENTENCE)
    expect(grade).to_have_text(grade_text(hard_text), timeout=SCORE_MS)
    expect(grade).to_have_attribute("data-ok", "no")
    box.fill(new_answer)
    expect(grade).to_have_text(grade_text(new_answer), timeout=SCORE_MS)
    expect(grade).to_have_attribute("data-ok", "yes")


def preview(page: Page, console_url: str) -> Locator:
    page.goto(f"{console_url}/editor/preview")
    page.get_by_label("Question").fill(QUESTION)
    page.locator("#ask").click(timeout=PAGE_MS)
    result = page.locator("#preview-result")
    expect(result).to_be_visible(timeout=PAGE_MS)
    return result


def test_editor_edits_previews_and_publishes_and_the_web_chat_answers_with_it(
    playwright: Playwright, live: Tuple[PublishedCopy, Servers], tmp_path: Path
) -> None:
    copy, servers = live
    console_url = servers.console_url
    assert console_url
    old_answer = copy.entry(ENTRY).answer.strip()
    new_answer = f"{old_answer}\n\n{NEW_SENTENCE}"
    assert reading_grade(f"{old_answer}\n\n{HARD_SENTENCE}") > MAX_GRADE_WEB >= reading_grade(new_answer)

    context = open_browser(playwright, tmp_path / "profile")
    try:
        page = context.pages[0] if context.pages else context.new_page()
        sign_in(page, console_url)
        page.goto(f"{console_url}/editor/entries/{ENTRY}")
        type_while_watching_the_grade(page, old_answer, new_answer)
        page.locator("#save").click(timeout=PAGE_MS)
        expect(page.locator("#draft-state")).to_contain_text(f"Unpublished draft by {EDITOR}")
        expect(page.locator("#answer")).to_have_value(new_answer)

        result = preview(page, console_url)
        expect(result.locator("#decision")).to_have_text("answer")
        expect(result.locator("#entry")).to_contain_text(ENTRY)
        expect(result.locator("#answer-web")).to_contain_text(NEW_SENTENCE)
        live_reply = servers.say(f"probe-{uuid.uuid4().hex[:12]}", QUESTION)
        live_text = "\n\n".join(m["text"] for m in live_reply if m.get("text"))  # a message a paragraph
        assert live_text == old_answer  # a draft is not live

        page.goto(f"{console_url}/editor/publish")
        expect(page.locator(f"article.draft[data-entry='{ENTRY}'] .diff")).to_contain_text(NEW_SENTENCE)
        page.get_by_label("Why (recorded with the version)").fill("smart bags: airlines may check")
        page.locator("#publish").click(timeout=PUBLISH_MS)
        outcome = page.locator("#publish-result")
        expect(outcome).to_contain_text("Published version 2.", timeout=PUBLISH_MS)
        expect(outcome).to_contain_text("published version 2 (passed)")
        assert NEW_SENTENCE in copy.entry(ENTRY).answer
        assert NEW_SENTENCE not in (ROOT / "knowledge" / "corpus" / "items" / f"{ENTRY}.yml").read_text()

        page.goto(f"{servers.rasa_url}{CHAT_PATH}")
        reply = ask(page, QUESTION)
        expect(reply).to_contain_text(NEW_SENTENCE)
        expect(reply.locator(".source a")).to_contain_text("Smart luggage")
    finally:
        context.close()
