"""action_respond: every traveler message ends here (see bot/domain.yml).

It asks bot.turn for the decision and turns it into Rasa events and messages:
an entry's answer with its source, a choice of entries as buttons, a polite
decline, or a handoff that is recorded and pauses the conversation.
"""

from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ConversationPaused, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.turn import FALLBACK_REASONS, Parse, Turn, decide_turn, handoff_response
from knowledge.policy import Decision
from knowledge.schema import Entry
from travelbot import runtime
from travelbot.handoffs import Handoff
from travelbot.settings import settings

logger = logging.getLogger(__name__)
SMS_CHANNELS = {"twilio_sms", "twilio_whatsapp", "twilio", "whatsapp"}


def parse_of(tracker: Tracker) -> Parse:
    message = tracker.latest_message or {}
    intent = message.get("intent") or {}
    chosen = next(
        (e.get("value") for e in message.get("entities", []) if e.get("entity") == "entry_id"), None
    )
    return Parse(
        text=message.get("text") or "",
        intent=intent.get("name") or "",
        confidence=float(intent.get("confidence") or 0.0),
        chosen_entry=str(chosen) if chosen else None,
    )


def previous_fallback(tracker: Tracker) -> bool:
    """Whether the bot's last decision in this session was a fallback (it did not understand).

    Read from the metadata dict the action attaches to each reply, so no extra
    slot (and no retraining) is needed; a restart or new session starts afresh.
    """
    for event in reversed(tracker.events):
        kind = event.get("event")
        if kind in ("restart", "session_started"):
            return False
        if kind == "bot":
            custom = (event.get("data") or {}).get("custom")
            if isinstance(custom, dict) and custom.get("decision"):
                return custom.get("reason") in FALLBACK_REASONS
    return False


def transcript_of(tracker: Tracker) -> List[Dict[str, Any]]:
    lines = []
    for event in tracker.events:
        if event.get("event") in ("user", "bot") and event.get("text"):
            lines.append({"role": event["event"], "text": event["text"], "time": event.get("timestamp")})
    return lines


def entry_meta(entry: Entry) -> Dict[str, Any]:
    return {
        "entry_id": entry.id,
        "title": entry.title,
        "source_url": entry.source_url,
        "last_reviewed": entry.last_reviewed.isoformat(),
    }


class ActionRespond(Action):
    def name(self) -> str:
        return "action_respond"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[str, Any]
    ) -> List[EventType]:
        policy = runtime.policy()
        channel = tracker.get_latest_input_channel() or "rest"
        parse = parse_of(tracker)
        turn = decide_turn(policy, parse, tracker.get_slot("choices") or [], previous_fallback(tracker))
        meta: Dict[str, Any] = {"decision": turn.decision.value, "reason": turn.outcome.reason}
        events: List[EventType] = [SlotSet("choices", turn.choices or None)]

        if turn.decision == Decision.ANSWER and turn.outcome.entry_id:
            entry = policy.kb.corpus[turn.outcome.entry_id]
            text = entry.answer_sms if channel in SMS_CHANNELS else entry.answer
            meta.update(entry_meta(entry), score=round(turn.outcome.score, 4))
            dispatcher.utter_message(text=text.strip(), json_message=meta)
        elif turn.decision == Decision.CLARIFY:
            corpus = policy.kb.corpus
            buttons = [
                {"title": corpus[c].title, "payload": f'/choose{{"entry_id":"{c}"}}'} for c in turn.choices
            ]
            meta["choices"] = [entry_meta(corpus[c]) for c in turn.choices]
            dispatcher.utter_message(response="utter_clarify", buttons=buttons, json_message=meta)
        elif turn.decision == Decision.HANDOFF:
            events.extend(self._hand_off(dispatcher, tracker, turn, parse.text, channel, meta))
        else:
            dispatcher.utter_message(response=turn.response or "utter_no_match", json_message=meta)
        return events

    def _hand_off(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        turn: Turn,
        text: str,
        channel: str,
        meta: Dict[str, Any],
    ) -> List[EventType]:
        outcome = turn.outcome
        record = Handoff(
            conversation_id=tracker.sender_id,
            channel=channel,
            reason=outcome.reason,
            urgent=outcome.urgent,
            last_message=text,
            transcript=transcript_of(tracker),
            candidates=outcome.candidate_list(),
        )
        handoff_id: Optional[int] = runtime.handoff_store().record(record)
        logger.info("handoff %s for %s (%s)", handoff_id, tracker.sender_id, outcome.reason)
        meta.update(handoff_id=handoff_id, urgent=outcome.urgent)
        response, fields = handoff_response(outcome, settings().agent_hours)
        dispatcher.utter_message(response=response, json_message=meta, **fields)
        return [ConversationPaused()]
