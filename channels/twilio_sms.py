"""SMS through Twilio: a signed webhook in, Twilio's REST API out (channel "twilio_sms").

Rasa's built-in Twilio channel is not used: it checks no X-Twilio-Signature,
answers a media-only message with a 500 and runs with debug on.

A POST to /webhooks/twilio_sms/webhook is answered:
- 503 when the channel is not configured (no TWILIO_* variables: `make run` works without them);
- 403 when X-Twilio-Signature is missing or does not verify. Twilio signs the
  URL it called, the PUBLIC one, so the URL checked is TWILIO_PUBLIC_BASE_URL
  + the route path (+ query): behind a proxy the URL Sanic sees differs;
- 400 with the reason for a body that is not UTF-8 form data;
- 413 with the reason for a body over MAX_FORM_BYTES (refused while it streams in);
- 200 with empty TwiML otherwise, also for a redelivered MessageSid, which is
  dropped before anything else happens (no second reply).

Replies go out with ``messages.create`` (channels/twilio_client.py), not as
TwiML, so agent replies from the staff console take the same path. The
webhook answers once the reply was handed to Twilio; the turn runs in a
shielded task, so if Twilio hangs up first (15 s) the reply is still sent.

Keywords (whole message, case-insensitive, as Twilio's Advanced Opt-Out
matches them, so both keep the same state): STOP and its synonyms record an
opt-out and send nothing (carriers confirm on SMS). While opted out, messages
are NOT passed to Rasa: no reply could be sent, and a handoff would give an
agent a conversation they cannot answer. START/UNSTOP/YES from an opted-out
number opts back in ("yes" from anyone else is an ordinary message). HELP/INFO
gets a short text saying how to reach a person.

Over the per-sender limit (channels/rate_limit.py) a message is not passed to
Rasa; the sender gets one short notice per window. STOP is never limited.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Dict, List, Optional, Sequence, Set
from urllib.parse import parse_qsl

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, OutputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request, RequestParameters
from sanic.response import HTTPResponse
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from channels import plain_text, rate_limit
from channels.rest import BadRequest, read_body
from channels.silence import failed_silently, tracker_store_of
from channels.twilio_client import Sent, TwilioConfig, TwilioSender, load_config, mask
from travelbot import runtime
from travelbot.deliveries import first_delivery

logger = logging.getLogger(__name__)

MAX_FORM_BYTES = 128 * 1024
MAX_BODY_CHARS = 5_000
STOP_WORDS = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"}
START_WORDS = {"START", "UNSTOP", "YES"}
HELP_WORDS = {"HELP", "INFO"}

HELP_TEXT = (
    'I answer airport security screening questions, like "Can I bring my power bank?". '
    "To reach a person, text AGENT. Text STOP to stop messages."
)
START_TEXT = "You will get messages from us again. Ask me any airport security screening question."
MEDIA_TEXT = (
    "Sorry, I can only read text, so I could not open that picture or file. Please type your question, "
    "or text AGENT to reach a person."
)
TOO_LONG_TEXT = (
    'That message is too long for me. Please ask one short question, like "Can I bring my power bank?", '
    "or text AGENT to reach a person."
)
FAILED_TEXT = "Sorry, something went wrong on my side. Please try again in a minute, or text AGENT."
# Also sent for an empty turn outside a handoff (the action server is down: channels/silence.py).


class Rejected(Exception):
    def __init__(self, reason: str, status: int):
        super().__init__(reason)
        self.reason = reason
        self.status = status


@dataclass(frozen=True)
class Inbound:
    message_sid: str
    address: str
    text: str
    num_media: int


def parse_form(raw: bytes) -> RequestParameters:
    """Twilio's form-encoded webhook body; Rejected (400) when it is not UTF-8 form data."""
    try:
        decoded = raw.decode("utf-8")
        pairs = parse_qsl(decoded, keep_blank_values=True, errors="strict", max_num_fields=200)
    except UnicodeDecodeError as exc:
        raise Rejected("body is not UTF-8 (raw or percent-encoded bytes)", 400) from exc
    except ValueError as exc:
        raise Rejected(f"body is not form data: {exc}", 400) from exc
    params = RequestParameters()
    for key, value in pairs:
        params.setdefault(key, []).append(value)
    return params


def public_url(base_url: str, path: str, query: str = "") -> str:
    """The URL Twilio called: our public base (scheme, host, any proxy prefix) + the route."""
    return base_url.rstrip("/") + path + (f"?{query}" if query else "")


def authenticate(
    validator: RequestValidator, base_url: str, path: str, query: str, raw: bytes, signature: str
) -> Inbound:
    """The message of a genuine Twilio call, or Rejected (400/403/413) saying why not."""
    if len(raw) > MAX_FORM_BYTES:
        raise Rejected(f"body larger than {MAX_FORM_BYTES} bytes", 413)
    if not signature:
        raise Rejected("missing X-Twilio-Signature", 403)
    params = parse_form(raw)
    if not validator.validate(public_url(base_url, path, query), params, signature):
        raise Rejected("X-Twilio-Signature does not match this request", 403)
    sid, address = params.get("MessageSid") or "", params.get("From") or ""
    if not sid or not address:
        raise Rejected("MessageSid and From are required", 400)
    try:
        num_media = int(params.get("NumMedia") or 0)
    except ValueError as exc:
        raise Rejected("NumMedia must be a number", 400) from exc
    return Inbound(sid, address, params.get("Body") or "", num_media)


EMPTY_TWIML = str(MessagingResponse())  # built once: the library builds it through ElementTree (0.3 ms)


def twiml_ok() -> HTTPResponse:
    """200 with an empty TwiML <Response/>: Twilio sends nothing itself, our reply goes via the API."""
    return response.text(EMPTY_TWIML, content_type="text/xml")


class TwilioSmsInput(InputChannel):
    """Webhook in, REST API out, for SMS; TwilioWhatsAppInput changes only what differs."""

    FROM_VAR = "TWILIO_SMS_FROM"
    SIBLING_FROM_VAR = "TWILIO_WHATSAPP_FROM"
    FROM_PATTERN = r"\+[1-9][0-9]{6,14}"  # an E.164 number, e.g. +15017122661

    @classmethod
    def name(cls) -> str:
        return "twilio_sms"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[str, Any]]) -> InputChannel:
        """Called by Rasa at start: a bad configuration stops the server here, naming the variables."""
        config = load_config(cls.name(), cls.FROM_VAR, cls.SIBLING_FROM_VAR, cls.FROM_PATTERN)
        if config is None:
            logger.warning(
                "%s is not configured: its webhook answers 503. Set %s, %s to switch it on.",
                cls.name(),
                ", ".join(("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_PUBLIC_BASE_URL")),
                cls.FROM_VAR,
            )
        return cls(config)

    def __init__(self, config: Optional[TwilioConfig], limit: Optional[rate_limit.SenderLimit] = None):
        self.config = config
        self.limit = limit or rate_limit.sender_limit()
        self.sender = TwilioSender(self.name(), config, runtime.opt_out_store) if config else None
        self.validator = RequestValidator(config.auth_token.get_secret_value()) if config else None
        self._tasks: Set[asyncio.Task] = set()

    # -- how this channel's texts look ---------------------------------------------------------

    @classmethod
    def reply_bodies(cls, messages: Sequence[Dict[str, Any]]) -> List[str]:
        """A bot turn as one SMS (up to two segments' room); "More: <link>" only when cut short."""
        rendered = plain_text.render(messages)
        if not rendered.text:
            return []
        tail = f"More: {rendered.source_url}" if rendered.source_url else ""
        return [plain_text.fit_sms(rendered.text, tail=tail).text]

    @classmethod
    def text_bodies(cls, text: str) -> List[str]:
        """Free text (an agent's reply): several SMS split at sentence ends, nothing dropped."""
        text = plain_text.to_gsm(text.strip())
        measure, limit = plain_text.sms_measure(text)
        return [part.strip() for part in plain_text.split_text(text, 2 * limit, measure) if part.strip()]

    # -- sending -------------------------------------------------------------------------------

    async def send(self, address: str, bodies: Sequence[str]) -> Sent:
        if self.sender is None:
            return Sent(address, skipped="not configured")
        if not bodies:
            return Sent(address)
        return await self.sender.send_async(address, bodies)

    def get_output_channel(self) -> Optional[OutputChannel]:
        return TwilioOutput(self) if self.sender else None

    # -- the webhook ---------------------------------------------------------------------------

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        webhook = Blueprint(f"{self.name()}_webhook", __name__)

        @webhook.listener("after_server_stop")
        async def close(*_: Any) -> None:
            if self.sender is not None:
                await self.sender.close_async()

        @webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok" if self.config else "not configured"})

        @webhook.route("/webhook", methods=["POST"], stream=True)
        async def receive(request: Request) -> HTTPResponse:
            try:
                request.body = await read_body(request, MAX_FORM_BYTES)
            except BadRequest as exc:
                return response.text(exc.reason, status=exc.status)
            return await self.webhook(request, on_new_message)

        return webhook

    async def webhook(
        self, request: Request, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> HTTPResponse:
        """One webhook call, answered as described at the top of this module."""
        if self.config is None:
            return response.text("channel not configured", status=503)
        try:
            inbound = self.verified(request)
        except Rejected as exc:
            if exc.status == 403:
                logger.warning("%s: rejected a webhook call: %s", self.name(), exc.reason)
            return response.text(exc.reason, status=exc.status)
        if not await first_delivery(runtime.delivery_log, self.name(), inbound.message_sid):
            logger.info("%s: dropped redelivery of %s", self.name(), inbound.message_sid)
            return twiml_ok()
        # Shielded: if Twilio hangs up and Sanic cancels this handler, the turn still completes.
        task = asyncio.ensure_future(self.handle(inbound, on_new_message, tracker_store_of(request.app)))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        await asyncio.shield(task)
        return twiml_ok()

    def verified(self, request: Request) -> Inbound:
        assert self.config is not None and self.validator is not None
        return authenticate(
            self.validator,
            str(self.config.public_base_url),
            request.path,
            request.query_string,
            request.body or b"",
            request.headers.get("X-Twilio-Signature", ""),
        )

    async def handle(
        self,
        inbound: Inbound,
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
        tracker_store: Optional[Any] = None,
    ) -> None:
        """One verified, first-time message: keywords and odd messages here, the rest through Rasa."""
        address, text = inbound.address, inbound.text.strip()
        keyword, optouts = text.upper(), runtime.opt_out_store()
        if keyword in STOP_WORDS:
            optouts.opt_out(self.name(), address, keyword)
            logger.info("%s: %s opted out (%s)", self.name(), mask(address), keyword)
            return
        if optouts.is_opted_out(self.name(), address):
            if keyword in START_WORDS:
                optouts.opt_in(self.name(), address)
                logger.info("%s: %s opted back in (%s)", self.name(), mask(address), keyword)
                await self.send(address, [START_TEXT])
            else:
                logger.info("%s: %s is opted out; message not processed", self.name(), mask(address))
            return
        admission = await self.limit.admit(self.name(), address)
        if not admission.allowed:
            logger.info("%s: %s is over the rate limit; message not processed", self.name(), mask(address))
            if admission.verdict is rate_limit.Verdict.NOTIFY:
                await self.send(address, [rate_limit.LIMITED_TEXT])
            return
        if keyword in HELP_WORDS:
            await self.send(address, [HELP_TEXT])
        elif not text:  # media-only, or a kind of message we do not read (location, contact, ...)
            await self.send(address, [MEDIA_TEXT])
        elif len(text) > MAX_BODY_CHARS:
            await self.send(address, [TOO_LONG_TEXT])
        else:
            await self.send(address, await self.ask_rasa(inbound, text, on_new_message, tracker_store))

    async def ask_rasa(
        self,
        inbound: Inbound,
        text: str,
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
        tracker_store: Optional[Any] = None,
    ) -> List[str]:
        collector = CollectingOutputChannel()
        message = UserMessage(
            text,
            collector,
            inbound.address,
            input_channel=self.name(),
            message_id=inbound.message_sid,
            metadata={"num_media": inbound.num_media},
        )
        try:
            await on_new_message(message)
        except Exception:
            logger.exception("%s: failed to handle %s", self.name(), inbound.message_sid)
            return [FAILED_TEXT]
        if not collector.messages and await failed_silently(tracker_store, inbound.address):
            logger.error(
                "%s: no reply to %s (is the action server down?): apologised",
                self.name(),
                inbound.message_sid,
            )
            return [FAILED_TEXT]
        return self.reply_bodies(collector.messages)


class TwilioOutput(OutputChannel):
    """Bot messages Rasa sends outside a webhook call (e.g. triggered through its HTTP API)."""

    def __init__(self, channel: TwilioSmsInput):
        self.channel = channel

    @classmethod
    def name(cls) -> str:
        return "twilio"

    async def send_response(self, recipient_id: str, message: Dict[str, Any]) -> None:
        await self.channel.send(recipient_id, self.channel.reply_bodies([message]))

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        await self.channel.send(recipient_id, self.channel.text_bodies(text))


def send_text(channel: str, address: str, text: str) -> Sent:
    """Send free text (an agent's reply) to ``address`` on "twilio_sms" or "twilio_whatsapp".

    For the staff console: synchronous, reads the configuration from the
    environment, and sends nothing to an address that opted out.
    """
    from channels.twilio_whatsapp import TwilioWhatsAppInput

    kinds = {cls.name(): cls for cls in (TwilioSmsInput, TwilioWhatsAppInput)}
    if channel not in kinds:
        raise ValueError(f"not a Twilio channel: {channel!r}")
    kind = kinds[channel]
    config = load_config(kind.name(), kind.FROM_VAR, kind.SIBLING_FROM_VAR, kind.FROM_PATTERN)
    if config is None:
        return Sent(address, skipped="not configured")
    sender = TwilioSender(kind.name(), config, runtime.opt_out_store)
    return sender.send(address, kind.text_bodies(text))
