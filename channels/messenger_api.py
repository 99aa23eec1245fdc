"""Sending to Messenger: configuration, the Graph API Send API client, message bodies.

Meta rate-limits and has outages; a send that fails with 429, a 5xx, a Graph
error marked transient or a connection error is retried with exponential
backoff (tenacity). A send that still fails is logged and reported in the
returned ``SendResult``: it never raises into the conversation.

The access token travels as a query parameter (Meta's documented form), so
URLs are never logged.
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence

import aiohttp
from pydantic import AnyHttpUrl, BaseModel, Extra, SecretStr, ValidationError, validator
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from channels import plain_text
from channels.plain_text import ucs2_length
from travelbot.settings import ConfigError

logger = logging.getLogger(__name__)

DEFAULT_GRAPH_URL = "https://graph.facebook.com/v19.0"
MAX_TEXT_CHARS = 2000  # Send API limit for a text message
MAX_QUICK_REPLIES = 13
MAX_QUICK_REPLY_TITLE = 20
MAX_PAYLOAD_CHARS = 1000
# Graph error codes that mean "try again later": unknown/service errors and rate limits.
TRANSIENT_CODES = {1, 2, 4, 17, 32, 613}
ENV_VARS = {
    "verify_token": "FB_VERIFY_TOKEN",
    "app_secret": "FB_APP_SECRET",
    "page_access_token": "FB_PAGE_ACCESS_TOKEN",
    "graph_url": "FB_GRAPH_URL",
}
REQUIRED = ("verify_token", "app_secret", "page_access_token")


class MessengerConfig(BaseModel):
    """The channel's secrets and endpoint, read only from the environment."""

    verify_token: SecretStr
    app_secret: SecretStr
    page_access_token: SecretStr
    graph_url: AnyHttpUrl = DEFAULT_GRAPH_URL  # type: ignore[assignment]

    class Config:
        extra = Extra.forbid

    @validator("verify_token", "app_secret", "page_access_token")
    def _not_blank(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise ValueError("must not be blank")
        return value

    @classmethod
    def from_env(cls, environ: Optional[Mapping[str, str]] = None) -> Optional[MessengerConfig]:
        """None when no FB_* secret is set (channel off); ConfigError naming what is missing or bad."""
        env = os.environ if environ is None else environ
        values = {field: env[var] for field, var in ENV_VARS.items() if env.get(var, "").strip()}
        if not any(field in values for field in REQUIRED):
            return None
        missing = [ENV_VARS[field] for field in REQUIRED if field not in values]
        if missing:
            raise ConfigError(
                f"Messenger channel: {', '.join(missing)} not set "
                f"(set all of {', '.join(ENV_VARS[f] for f in REQUIRED)}, or none to turn the channel off)"
            )
        try:
            return cls.parse_obj(values)
        except ValidationError as exc:
            problems = [f"{ENV_VARS[str(e['loc'][0])]}: {e['msg']}" for e in exc.errors()]
            raise ConfigError("Messenger channel: " + "; ".join(problems)) from exc

    def messages_url(self) -> str:
        return f"{str(self.graph_url).rstrip('/')}/me/messages"


@dataclass(frozen=True)
class SendResult:
    ok: bool
    status: Optional[int] = None  # HTTP status of the last attempt; None when it never connected
    message_id: Optional[str] = None
    error: Optional[str] = None


class TransientSendError(Exception):
    """A failure worth retrying."""

    def __init__(self, reason: str, status: Optional[int] = None):
        super().__init__(reason)
        self.status = status


def split_text(text: str, limit: int = MAX_TEXT_CHARS) -> List[str]:
    """Parts of at most ``limit`` UTF-16 units (Meta's count), cut at sentence ends when possible."""
    return [part.strip() for part in plain_text.split_text(text.strip(), limit, ucs2_length) if part.strip()]


def _shorten(title: str, limit: int = MAX_QUICK_REPLY_TITLE) -> str:
    title = " ".join(title.split())
    if len(title) <= limit:
        return title
    cut = title[: limit - 1].rsplit(" ", 1)[0] if " " in title[: limit - 1] else title[: limit - 1]
    if cut.count("(") > cut.count(")") and cut[: cut.rfind("(")].strip():
        cut = cut[: cut.rfind("(")]  # "Dry Batteries (AA…" reads worse than "Dry Batteries…"
    return cut.rstrip(" ,;:-(") + "…"


def quick_reply_titles(titles: Sequence[str]) -> List[str]:
    """Titles of at most 20 characters that still tell the choices apart.

    Choices often share their first words ("Deodorant (Aerosol)", "Deodorant
    (Gel or Liquid)"); when a title is too long, those shared words are dropped
    so what is left is what differs. The full titles are in the message text.
    """
    words = [t.split() for t in titles]
    shared = 0
    if len(titles) > 1 and any(len(t) > MAX_QUICK_REPLY_TITLE for t in titles):
        while all(len(w) > shared + 1 and w[shared] == words[0][shared] for w in words):
            shared += 1
    short = [_shorten(" ".join(w[shared:]).strip("()[] ") if shared else " ".join(w)) for w in words]
    if len(set(short)) < len(short):  # still ambiguous: number them like the list in the text
        short = [_shorten(f"{i}. {s}") for i, s in enumerate(short, start=1)]
    return short


def quick_replies(buttons: Sequence[Mapping[str, Any]]) -> List[Dict[str, str]]:
    """Rasa buttons ({title, payload}) as Messenger text quick replies."""
    usable = [b for b in buttons if b.get("title") and b.get("payload")][:MAX_QUICK_REPLIES]
    titles = quick_reply_titles([str(b["title"]) for b in usable])
    return [
        {"content_type": "text", "title": title, "payload": str(b["payload"])[:MAX_PAYLOAD_CHARS]}
        for title, b in zip(titles, usable, strict=True)
    ]


def text_bodies(
    psid: str,
    text: str,
    *,
    replies: Sequence[Mapping[str, str]] = (),
    human_agent: bool = False,
) -> List[Dict[str, Any]]:
    """Send API bodies for one text, split at 2,000 characters; quick replies go on the last part."""
    chunks = split_text(text)
    bodies: List[Dict[str, Any]] = []
    for n, chunk in enumerate(chunks, start=1):
        message: Dict[str, Any] = {"text": chunk}
        if replies and n == len(chunks):
            message["quick_replies"] = [dict(r) for r in replies]
        body: Dict[str, Any] = {"recipient": {"id": psid}, "messaging_type": "RESPONSE", "message": message}
        if human_agent:
            body.update(messaging_type="MESSAGE_TAG", tag="HUMAN_AGENT")
        bodies.append(body)
    return bodies


class GraphClient:
    """POSTs Send API bodies to ``{graph_url}/me/messages`` with retries."""

    def __init__(
        self,
        config: MessengerConfig,
        *,
        attempts: int = 4,
        backoff_s: float = 0.5,
        timeout_s: float = 15.0,
    ):
        self.config = config
        self.attempts = attempts
        self.backoff_s = backoff_s
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)

    async def send(self, body: Mapping[str, Any]) -> SendResult:
        """Send one body; never raises (failures are logged and returned)."""
        recipient = body.get("recipient", {}).get("id")
        last = SendResult(ok=False, error="not attempted")
        try:
            async with aiohttp.ClientSession(timeout=self.timeout) as session:
                async for attempt in AsyncRetrying(
                    stop=stop_after_attempt(self.attempts),
                    wait=wait_exponential(multiplier=self.backoff_s, max=30),
                    retry=retry_if_exception_type(TransientSendError),
                    reraise=True,
                ):
                    with attempt:
                        last = await self._post(session, body)
        except TransientSendError as exc:
            logger.error("Messenger send to %s failed after %d attempts: %s", recipient, self.attempts, exc)
            return SendResult(ok=False, status=exc.status, error=str(exc))
        except Exception as exc:  # never crash the conversation over a send
            logger.exception("Messenger send to %s failed", recipient)
            return SendResult(ok=False, error=repr(exc))
        if not last.ok:
            logger.error("Messenger send to %s rejected (HTTP %s): %s", recipient, last.status, last.error)
        return last

    async def _post(self, session: aiohttp.ClientSession, body: Mapping[str, Any]) -> SendResult:
        params = {"access_token": self.config.page_access_token.get_secret_value()}
        try:
            async with session.post(self.config.messages_url(), params=params, json=body) as reply:
                status = reply.status
                try:
                    data = await reply.json(content_type=None)
                except ValueError:
                    data = None
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise TransientSendError(f"connection error: {exc!r}") from exc
        error = data.get("error") if isinstance(data, dict) else None
        if status == 200 and isinstance(data, dict) and not error:
            return SendResult(ok=True, status=status, message_id=data.get("message_id"))
        detail = error if isinstance(error, dict) else {}
        reason = f"HTTP {status}: {detail.get('message') or data!r}"
        if (
            status == 429
            or status >= 500
            or detail.get("is_transient")
            or detail.get("code") in TRANSIENT_CODES
        ):
            raise TransientSendError(reason, status)
        return SendResult(ok=False, status=status, error=reason)

    async def send_text(
        self,
        psid: str,
        text: str,
        *,
        replies: Sequence[Mapping[str, str]] = (),
        human_agent: bool = False,
    ) -> List[SendResult]:
        """Send a text (split as needed), stopping at the first part that could not be sent."""
        results: List[SendResult] = []
        for body in text_bodies(psid, text, replies=replies, human_agent=human_agent):
            results.append(await self.send(body))
            if not results[-1].ok:
                break
        return results


async def send_to_traveler(
    psid: str, text: str, *, human_agent: bool = False, config: Optional[MessengerConfig] = None
) -> List[SendResult]:
    """For the staff console: send ``text`` to a Messenger user.

    With ``human_agent=True`` the message is tagged HUMAN_AGENT (messaging_type
    MESSAGE_TAG), which Meta requires for a person's reply more than 24 hours
    after the traveler's last message.
    """
    config = config or MessengerConfig.from_env()
    if config is None:
        raise ConfigError("Messenger channel is not configured (FB_* variables not set)")
    return await GraphClient(config).send_text(psid, text, human_agent=human_agent)
