"""Twilio configuration and outbound sending, shared by the SMS and WhatsApp channels.

Replies go out through the REST API (``messages.create``), never as TwiML in
the webhook answer, so the staff console can later send an agent's reply the
same way. Every send first checks the opt-out store: an address that texted
STOP gets nothing, whoever is sending. Transient failures (HTTP 429, 5xx,
connection errors, timeouts) are retried a few times with exponential
backoff; a send that still fails is logged and reported, never raised into
the conversation.

Two ways in, one behaviour: ``send`` (the staff console, synchronous, the
library's requests client) and ``send_async`` (the webhooks, on Rasa's event
loop, the library's aiohttp client with a kept connection). The webhook used
to run the synchronous client in a thread: requests, the thread hop and the
GIL cost the Rasa server about 5 ms of CPU per SMS, a third of a turn.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import weakref
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence

import aiohttp
import requests
from pydantic import AnyHttpUrl, BaseModel, Extra, Field, SecretStr, ValidationError, validator
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client
from twilio.rest.api.v2010.account.message import MessageInstance

from travelbot.optouts import OptOutStore
from travelbot.settings import ConfigError

logger = logging.getLogger(__name__)

TWILIO_API = "https://api.twilio.com"
SHARED_VARS = ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_PUBLIC_BASE_URL")
API_BASE_VAR = "TWILIO_API_BASE_URL"
TRIES = 3
REQUEST_TIMEOUT_S = 10.0
KEEPALIVE_S = 15.0
UNSUBSCRIBED_RECIPIENT = 21610  # Twilio's error: the number sent STOP to Twilio itself


class TwilioConfig(BaseModel):
    """One Twilio channel's settings, all from the environment."""

    account_sid: str = Field(..., regex=r"^AC[0-9a-fA-F]{32}$")
    auth_token: SecretStr
    from_address: str
    public_base_url: AnyHttpUrl
    api_base_url: AnyHttpUrl = Field(TWILIO_API)

    class Config:
        extra = Extra.forbid

    @validator("auth_token")
    def _token_not_blank(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) < 16:
            raise ValueError("looks too short for a Twilio auth token")
        return value


def env_names(from_var: str) -> Dict[str, str]:
    """Config field -> the environment variable it comes from."""
    return {
        "account_sid": "TWILIO_ACCOUNT_SID",
        "auth_token": "TWILIO_AUTH_TOKEN",
        "from_address": from_var,
        "public_base_url": "TWILIO_PUBLIC_BASE_URL",
        "api_base_url": API_BASE_VAR,
    }


def load_config(
    channel: str,
    from_var: str,
    sibling_from_var: str,
    from_pattern: str,
    environ: Optional[Mapping[str, str]] = None,
) -> Optional[TwilioConfig]:
    """The channel's config, None when it is switched off, ConfigError naming what is wrong.

    Off means none of its variables are set, or only the shared ones for the
    sibling channel (SMS without WhatsApp is a normal set-up). Some set but not
    all is a mistake and stops the server at start, naming the missing ones.
    """
    env = os.environ if environ is None else environ
    names = env_names(from_var)
    values = {name: env.get(name, "").strip() for name in (*SHARED_VARS, from_var)}
    if not values[from_var] and (not any(values.values()) or env.get(sibling_from_var, "").strip()):
        return None
    missing = [name for name, value in values.items() if not value]
    if missing:
        raise ConfigError(f"{channel}: some TWILIO_* variables are set but not {', '.join(missing)}")
    raw = {field_name: env.get(var, "").strip() for field_name, var in names.items()}
    raw = {key: value for key, value in raw.items() if value}
    try:
        config = TwilioConfig.parse_obj(raw)
    except ValidationError as exc:
        problems = [f"{channel}: ${names[str(e['loc'][0])]}: {e['msg']}" for e in exc.errors()]
        raise ConfigError("\n".join(problems)) from exc
    if re.fullmatch(from_pattern, config.from_address) is None:
        value = config.from_address
        raise ConfigError(f"{channel}: ${from_var}: {value!r} is not a sender of the form {from_pattern}")
    return config


def mask(address: str) -> str:
    """A phone number fit for a log line: only its last four digits."""
    return f"…{address[-4:]}" if len(address) > 4 else "…"


def rebased(url: str, base_url: str) -> str:
    """``url`` on another API base: TWILIO_API_BASE_URL lets a test (or a regional proxy) stand in
    for api.twilio.com without changing how the library builds its requests."""
    return base_url.rstrip("/") + url[len(TWILIO_API) :] if url.startswith(TWILIO_API) else url


class RebasedHttpClient(TwilioHttpClient):
    """The twilio library's HTTP client, with a timeout and another API base URL when configured."""

    def __init__(self, base_url: str, timeout: float = REQUEST_TIMEOUT_S):
        super().__init__(timeout=timeout)
        self.base_url = base_url

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        return super().request(method, rebased(url, self.base_url), *args, **kwargs)


class RebasedAsyncHttpClient(AsyncTwilioHttpClient):
    """The library's aiohttp client, likewise; made on the event loop it serves (aiohttp's rule),
    with one kept session: a connection to Twilio is reused rather than opened for every message."""

    def __init__(self, base_url: str, timeout: float = REQUEST_TIMEOUT_S):
        super().__init__(pool_connections=False, timeout=timeout)
        self.base_url = base_url
        self.session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=timeout),
            connector=aiohttp.TCPConnector(keepalive_timeout=KEEPALIVE_S),
        )

    async def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        return await super().request(method, rebased(url, self.base_url), *args, **kwargs)


def transient(exc: BaseException) -> bool:
    """Worth another try: rate limited, a Twilio-side failure, or the network."""
    if isinstance(exc, TwilioRestException):
        return exc.status == 429 or exc.status >= 500
    return isinstance(
        exc, (requests.ConnectionError, requests.Timeout, aiohttp.ClientError, asyncio.TimeoutError)
    )


NETWORK_ERRORS = (requests.RequestException, aiohttp.ClientError, asyncio.TimeoutError, OSError)


@dataclass
class Sent:
    """What became of one send: Twilio's ids for the messages it accepted, or why not."""

    address: str
    sids: List[str] = field(default_factory=list)
    skipped: Optional[str] = None  # "opted out", "failed: ..."

    @property
    def ok(self) -> bool:
        return self.skipped is None


class TwilioSender:
    """Sends text to travelers of one channel through Twilio's REST API, respecting opt-outs."""

    def __init__(
        self,
        channel: str,
        config: TwilioConfig,
        optouts: Callable[[], OptOutStore],
        tries: int = TRIES,
        backoff_s: float = 0.5,
    ):
        self.channel = channel
        self.config = config
        self.optouts = optouts
        self.client = self._client(RebasedHttpClient(str(config.api_base_url)))
        self._async_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Client] = (
            weakref.WeakKeyDictionary()
        )
        retry_policy: Dict[str, Any] = dict(
            stop=stop_after_attempt(tries),
            wait=wait_exponential(multiplier=backoff_s, max=8 * backoff_s),
            retry=retry_if_exception(transient),
            before_sleep=self._log_retry,
            reraise=True,
        )
        self.retrying = Retrying(**retry_policy)
        self.async_retrying = AsyncRetrying(**retry_policy)

    def _client(self, http_client: Any) -> Client:
        return Client(
            self.config.account_sid, self.config.auth_token.get_secret_value(), http_client=http_client
        )

    def async_client(self) -> Client:
        """This event loop's client (an aiohttp session belongs to the loop it was made on)."""
        loop = asyncio.get_running_loop()
        client = self._async_clients.get(loop)
        if client is None:
            client = self._async_clients[loop] = self._client(
                RebasedAsyncHttpClient(str(self.config.api_base_url))
            )
        return client

    async def close_async(self) -> None:
        """Close this event loop's connection to Twilio (the channel does when the server stops)."""
        client = self._async_clients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            http_client: Any = client.http_client
            await http_client.close()

    def send(self, address: str, bodies: Sequence[str]) -> Sent:
        """Send each body as one message, in order; stops at the first failure."""
        result = self._unless_opted_out(address)
        for body in bodies if result.ok else ():
            try:
                message = self.retrying(self.client.messages.create, **self._message(address, body))
            except (TwilioRestException, *NETWORK_ERRORS) as exc:
                self._gave_up(result, exc, len(bodies))
                break
            result.sids.append(str(message.sid))
        return result

    async def send_async(self, address: str, bodies: Sequence[str]) -> Sent:
        """``send`` on the running event loop, without a thread."""
        result = self._unless_opted_out(address)
        for body in bodies if result.ok else ():
            try:
                create = self.async_client().messages.create_async
                message: MessageInstance = await self.async_retrying(create, **self._message(address, body))
            except (TwilioRestException, *NETWORK_ERRORS) as exc:
                self._gave_up(result, exc, len(bodies))
                break
            result.sids.append(str(message.sid))
        return result

    def _message(self, address: str, body: str) -> Dict[str, str]:
        return {"to": address, "from_": self.config.from_address, "body": body}

    def _unless_opted_out(self, address: str) -> Sent:
        result = Sent(address)
        if self.optouts().is_opted_out(self.channel, address):
            logger.info("%s: %s opted out; nothing sent", self.channel, mask(address))
            result.skipped = "opted out"
        return result

    def _gave_up(self, result: Sent, exc: BaseException, count: int) -> None:
        if isinstance(exc, TwilioRestException):
            result.skipped = f"failed: HTTP {exc.status}, Twilio error {exc.code}"
            if exc.code == UNSUBSCRIBED_RECIPIENT:
                self.optouts().opt_out(self.channel, result.address, f"twilio-{exc.code}")
        else:
            result.skipped = f"failed: {type(exc).__name__}"
        logger.error(
            "%s: gave up sending to %s (%s); the traveler got %d of %d messages",
            self.channel,
            mask(result.address),
            result.skipped,
            len(result.sids),
            count,
        )

    def _log_retry(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        status = exc.status if isinstance(exc, TwilioRestException) else type(exc).__name__
        wait = state.next_action.sleep if state.next_action else 0.0
        logger.warning(
            "%s: send to %s failed (%s), try %d; retrying in %.1f s",
            self.channel,
            mask(str(state.kwargs.get("to", ""))),
            status,
            state.attempt_number,
            wait,
        )
