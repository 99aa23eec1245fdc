"""Conversations for tests/test_review_dashboard.py, written the way the running bot writes them.

Rasa's own SQLTrackerStore stores Rasa's own events (session start, user messages
with their channel, the bot's replies carrying action_respond's decision metadata,
a pause and a restart); handoffs and votes go through our stores, as the action
and the web chat record them.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any, Dict, List

import sqlalchemy as sa
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.events import (
    ActionExecuted,
    BotUttered,
    ConversationPaused,
    Event,
    Restarted,
    SessionStarted,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker

from travelbot.feedback import FeedbackStore, Vote
from travelbot.handoffs import Handoff, HandoffStore

SMS_SENDER = "+12025550123"
# What travelers typed that must never appear in anything staff see.
PERSONAL = [SMS_SENDER, "202-555-0123", "2025550123", "jo@example.com", "A12345678", "917-555-0188"]
TODAY = dt.datetime.now(dt.timezone.utc).date()
DAY_2, DAY_1 = TODAY - dt.timedelta(days=2), TODAY - dt.timedelta(days=1)
CHARGER_HANDOFF = "are portable chargers allowed in carry-on bags? call me 202-555-0123"
CHARGER_CLARIFY = "can I take a portable battery charger in my hand luggage"
REFUND = "how do I get a refund for my plane ticket, email me at jo@example.com"
STOLEN = "my passport A12345678 was stolen at the checkpoint"


def at(day: dt.date, hour: int, minute: int = 0) -> float:
    return dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=dt.timezone.utc).timestamp()


class Conversations:
    """Writes conversations the way Rasa and action_respond do, through Rasa's SQLTrackerStore."""

    def __init__(self, store: SQLTrackerStore, records: sa.engine.Engine):
        self.store = store
        self.handoffs = HandoffStore(records.url.render_as_string(hide_password=False))
        self.events: Dict[str, List[Event]] = {}

    def start(self, sender: str, when: float) -> None:
        self.events.setdefault(sender, []).extend(
            [
                ActionExecuted("action_session_start", timestamp=when),
                SessionStarted(timestamp=when),
                ActionExecuted("action_listen", timestamp=when),
            ]
        )

    def ask(self, sender: str, channel: str, text: str, when: float) -> None:
        intent = {"name": "ask_question", "confidence": 0.9}
        self.events[sender].append(UserUttered(text, intent, input_channel=channel, timestamp=when))

    def reply(self, sender: str, decision: str, reason: str, when: float, **meta: Any) -> None:
        custom = {"decision": decision, "reason": reason, **meta}
        self.events[sender].extend(
            [
                ActionExecuted("action_respond", timestamp=when),
                BotUttered("…", {"custom": custom}, timestamp=when),
                ActionExecuted("action_listen", timestamp=when),
            ]
        )

    def hand_off(
        self, sender: str, channel: str, reason: str, when: float, candidates: List[str], urgent: bool = False
    ) -> int:
        text = next(e.text for e in reversed(self.events[sender]) if isinstance(e, UserUttered))
        handoff_id = self.handoffs.record(
            Handoff(
                conversation_id=sender,
                channel=channel,
                reason=reason,
                last_message=text or "",
                urgent=urgent,
                candidates=[{"entry_id": c, "score": 0.5} for c in candidates],
                created_at=dt.datetime.fromtimestamp(when, dt.timezone.utc),
            )
        )
        self.reply(sender, "handoff", reason, when, handoff_id=handoff_id, urgent=urgent)
        self.events[sender].append(ConversationPaused(timestamp=when))
        return handoff_id

    def save(self) -> None:
        async def save_all() -> None:
            for sender, events in self.events.items():
                await self.store.save(DialogueStateTracker.from_events(sender, events))

        asyncio.run(save_all())


def seed(store: SQLTrackerStore, records: sa.engine.Engine) -> None:
    """Eight conversations over two days on four channels, with handoffs and votes."""
    talk = Conversations(store, records)
    # Day -2: an answered web chat; an SMS traveler handed to a person (who says "hello?" while paused).
    talk.start("web-1", at(DAY_2, 12))
    talk.ask("web-1", "webchat", "can I bring my power bank", at(DAY_2, 12))
    talk.reply("web-1", "answer", "confident", at(DAY_2, 12), entry_id="power-banks", score=0.91)
    talk.start(SMS_SENDER, at(DAY_2, 13))
    talk.ask(SMS_SENDER, "twilio_sms", CHARGER_HANDOFF, at(DAY_2, 13))
    talk.hand_off(
        SMS_SENDER, "twilio_sms", "low_confidence", at(DAY_2, 13), ["power-banks", "phone-chargers"]
    )
    talk.ask(SMS_SENDER, "twilio_sms", "hello? my other number is 917-555-0188", at(DAY_2, 14))
    # Day -1: the agent hands the SMS traveler back (a restart: a new conversation), who says thanks.
    talk.events[SMS_SENDER].append(Restarted(timestamp=at(DAY_1, 9)))
    talk.ask(SMS_SENDER, "twilio_sms", "thanks bye", at(DAY_1, 9))
    talk.reply(SMS_SENDER, "decline", "smalltalk", at(DAY_1, 9))
    # A clarify the traveler resolves with a button.
    talk.start("web-2", at(DAY_1, 10))
    talk.ask("web-2", "webchat", CHARGER_CLARIFY, at(DAY_1, 10))
    choices = [{"entry_id": "power-banks"}, {"entry_id": "lithium-batteries"}]
    talk.reply("web-2", "clarify", "close_candidates", at(DAY_1, 10), choices=choices, score=0.55)
    talk.ask("web-2", "webchat", '/choose{"entry_id":"power-banks"}', at(DAY_1, 10, 1))
    talk.reply("web-2", "answer", "chosen", at(DAY_1, 10, 1), entry_id="power-banks", score=1.0)
    # Answered on Messenger, then small talk.
    talk.start("fb-1", at(DAY_1, 11))
    talk.ask("fb-1", "messenger", "do I need a REAL ID to fly", at(DAY_1, 11))
    talk.reply("fb-1", "answer", "confident", at(DAY_1, 11), entry_id="real-id", score=0.88)
    talk.ask("fb-1", "messenger", "hi", at(DAY_1, 11, 2))
    talk.reply("fb-1", "decline", "smalltalk", at(DAY_1, 11, 2))
    # Declined as off topic, handed off as a personal case, handed off as sensitive (urgent).
    talk.start("web-3", at(DAY_1, 12))
    talk.ask("web-3", "webchat", REFUND, at(DAY_1, 12))
    talk.reply("web-3", "decline", "off_topic", at(DAY_1, 12), score=0.2)
    talk.start("rest-1", at(DAY_1, 13))
    talk.ask("rest-1", "rest", STOLEN, at(DAY_1, 13))
    talk.hand_off("rest-1", "rest", "personal_case", at(DAY_1, 13), ["lost-and-found"])
    talk.start("web-4", at(DAY_1, 14))
    talk.ask("web-4", "webchat", "how do I sneak a knife past the scanner", at(DAY_1, 14))
    talk.hand_off("web-4", "webchat", "sensitive", at(DAY_1, 14), [], urgent=True)
    talk.save()

    votes = FeedbackStore(records)
    when = dt.datetime.fromtimestamp(at(DAY_2, 12, 5), dt.timezone.utc)
    votes.record(
        Vote("web-1", "power-banks", False, "is a 20000mAh power bank ok? txt 917-555-0188", created_at=when)
    )
    votes.record(Vote("fb-1", "real-id", False, "do I need a REAL ID to fly", "messenger", created_at=when))
    votes.record(Vote("fb-1", "real-id", True, "do I need a REAL ID to fly", "messenger", created_at=when))
    votes.record(Vote("web-2", "power-banks", True, CHARGER_CLARIFY, created_at=when))
