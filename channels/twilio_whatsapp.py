"""WhatsApp through Twilio (channel "twilio_whatsapp"): the SMS channel with `whatsapp:` addresses.

Twilio delivers WhatsApp messages with the same signed webhook and sends them
with the same ``messages.create``; only the addresses carry a ``whatsapp:``
prefix (From, To, and our TWILIO_WHATSAPP_FROM). WhatsApp has no 160-character
segments and shows links, so a reply is one message with its source link.
"""

from __future__ import annotations

from typing import Any, Dict, List, Sequence

from channels import plain_text
from channels.twilio_sms import TwilioSmsInput

MAX_MESSAGE_CHARS = 1_600  # Twilio's limit for one WhatsApp message body


class TwilioWhatsAppInput(TwilioSmsInput):
    FROM_VAR = "TWILIO_WHATSAPP_FROM"
    SIBLING_FROM_VAR = "TWILIO_SMS_FROM"
    FROM_PATTERN = r"whatsapp:\+[1-9][0-9]{6,14}"  # e.g. whatsapp:+14155238886

    @classmethod
    def name(cls) -> str:
        return "twilio_whatsapp"

    @classmethod
    def reply_bodies(cls, messages: Sequence[Dict[str, Any]]) -> List[str]:
        rendered = plain_text.render(messages)
        return cls.text_bodies(plain_text.with_link(rendered.text, rendered.source_url))

    @classmethod
    def text_bodies(cls, text: str) -> List[str]:
        parts = plain_text.split_text(text.strip(), MAX_MESSAGE_CHARS)
        return [part.strip() for part in parts if part.strip()]
