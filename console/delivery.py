"""An agent's reply, delivered on the traveler's own channel.

- web chat: the reply waits in ``agent_messages`` and the chat page polls for it;
- SMS / WhatsApp: sent now through Twilio (``twilio_client.send_text``); an
  opted-out number is never messaged and the agent is told so before anything is stored;
- Messenger: sent with the HUMAN_AGENT tag, which Meta requires for a person's
  reply more than 24 hours after the traveler's last message.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from travelbot.casework import Case
from travelbot.optouts import OptOutStore

TWILIO_CHANNELS = ("twilio_sms", "twilio_whatsapp")
POLLED_CHANNELS = ("webchat",)


@dataclass(frozen=True)
class Delivery:
    ok: bool
    detail: str  # shown to the agent and kept with the reply


def opted_out(case: Case, optouts: OptOutStore) -> bool:
    return case.channel in TWILIO_CHANNELS and optouts.is_opted_out(case.channel, case.conversation_id)


def deliver(case: Case, text: str) -> Delivery:
    """Send (or queue) ``text`` to the traveler of ``case``; never raises for a failed send."""
    if case.channel in POLLED_CHANNELS:
        return Delivery(True, "queued: the traveler's chat page shows it within seconds")
    if case.channel in TWILIO_CHANNELS:
        from channels.twilio_sms import send_text

        sent = send_text(case.channel, case.conversation_id, text)
        if sent.ok:
            return Delivery(True, f"sent as {len(sent.sids)} message(s)")
        return Delivery(False, f"not sent: {sent.skipped}")
    if case.channel == "messenger":
        from channels.messenger_api import send_to_traveler
        from travelbot.settings import ConfigError

        try:
            results = asyncio.run(send_to_traveler(case.conversation_id, text, human_agent=True))
        except ConfigError as exc:
            return Delivery(False, f"not sent: {exc}")
        if results and all(result.ok for result in results):
            return Delivery(True, f"sent as {len(results)} message(s) (human-agent tag)")
        failed = next((r for r in results if not r.ok), None)
        return Delivery(False, f"not sent: {failed.error if failed else 'nothing to send'}")
    return Delivery(False, f"not sent: the {case.channel!r} channel cannot carry an agent's reply")
