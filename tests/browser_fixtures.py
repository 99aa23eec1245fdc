"""What the end-to-end tests share: headless Chromium, the web chat helpers, a published corpus copy.

Debian's /usr/bin/chromium is driven by Playwright (never `playwright install`). Under CI it must be present
(`make test` installs it): a missing browser fails the run there and only skips on a developer's machine.

``published_copy`` gives a test its own copy of the corpus and the built index, with the unchanged files
published as version 1 (a publication needs a baseline to gate against), so it can edit, publish and roll
back while servers answer from that copy; knowledge/corpus and var/index are never written.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, NoReturn

import pytest
import yaml
from playwright.sync_api import BrowserContext, Locator, Page, Playwright, expect, sync_playwright

from knowledge.corpus import CORPUS_DIR, load_corpus, read_entry
from knowledge.embedder import Embedder
from knowledge.publish import build_at, cache_path
from knowledge.schema import Entry
from tests.editor_client import copy_index
from travelbot.publisher import publish
from travelbot.settings import ROOT, Settings, load_settings

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REPLY_MS = 120_000  # how long to wait for a bot reply on a busy machine (not an assertion)


def missing(what: str) -> NoReturn:
    """In CI a missing browser prerequisite is a failure, elsewhere a skip."""
    if os.environ.get("CI"):
        pytest.fail(f"{what} (CI must run the browser tests: `make test` installs it)")
    pytest.skip(f"{what}; run `make browser-deps`")


def driven_chromium() -> Iterator[Playwright]:
    """Playwright for Debian's Chromium; a test module's fixture yields from it, scope "module" (closed per
    module: its event loop must not outlive that module's browser tests)."""
    if not os.access(CHROMIUM, os.X_OK):
        missing(f"{CHROMIUM} is missing (Debian package 'chromium')")
    with sync_playwright() as running:
        yield running


def open_browser(playwright: Playwright, profile: Path, width: int = 1024) -> BrowserContext:
    # bypass_csp lets a test inject axe-core; the pages' own CSP blocks inline scripts.
    return playwright.chromium.launch_persistent_context(
        str(profile),
        executable_path=str(CHROMIUM),
        args=CHROMIUM_ARGS,
        headless=True,
        viewport={"width": width, "height": 700},
        bypass_csp=True,
    )


def bot_replies(page: Page) -> Locator:
    return page.locator("#log .msg.bot")


def wait_reply(page: Page, before: int) -> Locator:
    expect(bot_replies(page)).to_have_count(before + 1, timeout=REPLY_MS)
    reply = bot_replies(page).nth(before)
    assert "error" not in (reply.get_attribute("class") or ""), reply.inner_text()
    return reply


def ask(page: Page, question: str) -> Locator:
    """Type a question into the web chat and wait for the bot's reply to it."""
    before = bot_replies(page).count()
    page.locator("#message").fill(question)
    page.locator("#message").press("Enter")
    return wait_reply(page, before)


@dataclass
class PublishedCopy:
    """A corpus and index copy under a test's own directory, version 1 published."""

    config: Settings  # for in-process publish/rollback; its database is the one start_servers uses
    server_env: Dict[str, str]  # pass as start_servers(extra_env=...) so the servers answer from the copy
    embedder: Embedder  # loaded once; reuse it for further publications in the test process

    def entry_path(self, entry_id: str) -> Path:
        return self.config.corpus_path() / "items" / f"{entry_id}.yml"

    def entry(self, entry_id: str) -> Entry:
        return read_entry(self.entry_path(entry_id), self.config.corpus_path())

    def append_to_answer(self, entry_id: str, sentence: str) -> None:
        """Edit the entry's file as an editor in git would: one more paragraph in the web answer."""
        path = self.entry_path(entry_id)
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        raw["answer"] = raw["answer"].rstrip() + "\n\n" + sentence + "\n"
        path.write_text(yaml.safe_dump(raw, sort_keys=False, allow_unicode=True), encoding="utf-8")


def published_copy(workdir: Path) -> PublishedCopy:
    """Copy the corpus and the built index into ``workdir`` and publish the unchanged files (version 1)."""
    corpus_dir, index_dir = workdir / "knowledge" / "corpus", workdir / "index"
    shutil.copytree(CORPUS_DIR, corpus_dir)
    copy_index(workdir)
    config = load_settings(ROOT / "travelbot.yml").copy(
        update={"corpus_dir": corpus_dir, "index_dir": index_dir}, deep=True
    )
    config.storage.sqlite_path = workdir / "handoffs.db"  # what start_servers(workdir) gives the servers
    embedder = Embedder()
    build_at(index_dir, load_corpus(corpus_dir), embedder, cache_path(index_dir))  # bring the copy up to date
    first = publish(config, reason="baseline", embedder=embedder, author="test")
    assert first.ok and first.version == 1 and first.gate == "baseline", first.lines
    server_env = {"TRAVELBOT_CORPUS_DIR": str(corpus_dir), "TRAVELBOT_INDEX_DIR": str(index_dir)}
    return PublishedCopy(config, server_env, embedder)
