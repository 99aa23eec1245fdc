"""One traveler turn: NLU intent + retrieval decision -> what the bot does.

This is the single place that decides a turn. The Rasa action calls it with
the tracker's state; ``travelbot ask`` calls it with the same NLU parse and no
state, so both give the same decision for a conversation's first message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

from knowledge.policy import Decision, Outcome, Policy
from travelbot.agent_hours import describe_return, is_open
from travelbot.settings import AgentHours

MAX_CHARS = 1000
SMALLTALK = {
    "greet": "utter_greet",
    "goodbye": "utter_goodbye",
    "thanks": "utter_thanks",
    "bot_challenge": "utter_iamabot",
    "affirm": "utter_affirm",
    "deny": "utter_deny",
}
SMALLTALK_MIN_CONFIDENCE = 0.55
HUMAN_MIN_CONFIDENCE = 0.5
DECLINE_RESPONSES = {"off_topic": "utter_off_topic", "other_agency": "utter_other_agency"}
# Reasons that mean "the bot could not help with that" (not understood, or outside screening):
# two in a row hand the traveler to a person instead of repeating the same apology.
FALLBACK_REASONS = frozenset({"no_match", "off_topic"})
_WORD = re.compile(r"[a-z0-9]+")
_NONE_OF_THESE = re.compile(
    r"\b(none|neither|no|nope|not (?:those|these|that|it)|something else|other)\b", re.I
)


@dataclass(frozen=True)
class Parse:
    """What Rasa's NLU made of the message."""

    text: str
    intent: str = ""
    confidence: float = 0.0
    chosen_entry: Optional[str] = None


@dataclass
class Turn:
    outcome: Outcome
    response: Optional[str] = None  # a domain response to send, when not an entry's answer
    choices: List[str] = field(default_factory=list)

    @property
    def decision(self) -> Decision:
        return self.outcome.decision


def _pick_choice(text: str, choices: Sequence[str], titles: Sequence[str]) -> Optional[str]:
    """The choice a traveler typed: its number, or words only its title has."""
    stripped = text.strip().rstrip(".)")
    if stripped.isdigit() and 1 <= int(stripped) <= len(choices):
        return choices[int(stripped) - 1]
    words = set(_WORD.findall(text.lower()))
    if not words:
        return None
    scores = []
    for choice, title in zip(choices, titles, strict=True):
        title_words = set(_WORD.findall(title.lower()))
        scores.append((len(words & title_words) / max(1, len(title_words)), choice))
    scores.sort(reverse=True)
    if scores[0][0] >= 0.5 and (len(scores) == 1 or scores[0][0] > scores[1][0]):
        return scores[0][1]
    return None


def decide_turn(
    policy: Policy, parse: Parse, pending_choices: Sequence[str] = (), previous_fallback: bool = False
) -> Turn:
    """``previous_fallback``: the bot's last turn in this session did not understand the traveler."""
    text = parse.text or ""
    corpus = policy.kb.corpus

    def answer(entry_id: str, reason: str) -> Turn:
        return Turn(Outcome(Decision.ANSWER, reason, entry_id=entry_id, score=1.0))

    if parse.chosen_entry and parse.chosen_entry in corpus:
        return answer(parse.chosen_entry, "chosen")
    if not text.strip() or not _WORD.search(text.lower()):
        return Turn(Outcome(Decision.DECLINE, "empty"), response="utter_empty")
    if len(text) > MAX_CHARS:
        return Turn(Outcome(Decision.DECLINE, "too_long"), response="utter_too_long")

    pending = [c for c in pending_choices if c in corpus]
    if pending:
        picked = _pick_choice(text, pending, [corpus[c].title for c in pending])
        if picked:
            return answer(picked, "chosen")
        if parse.intent == "deny" or (_NONE_OF_THESE.search(text) and len(text.split()) <= 4):
            return Turn(Outcome(Decision.HANDOFF, "clarify_failed"))

    outcome = policy.decide(text)
    if outcome.reason == "sensitive":
        return Turn(outcome)
    if parse.intent == "request_human" and parse.confidence >= HUMAN_MIN_CONFIDENCE:
        # Handing over to a person when asked costs little even if the NLU was
        # wrong; answering instead would ignore the traveler's request.
        outcome.decision, outcome.reason, outcome.entry_id = Decision.HANDOFF, "requested", None
        return Turn(outcome)
    smalltalk = parse.intent in SMALLTALK and parse.confidence >= SMALLTALK_MIN_CONFIDENCE
    if smalltalk and outcome.decision != Decision.ANSWER:
        outcome.decision, outcome.reason, outcome.entry_id = Decision.DECLINE, "smalltalk", None
        return Turn(outcome, response=SMALLTALK[parse.intent])
    if outcome.decision == Decision.DECLINE and outcome.reason in FALLBACK_REASONS and previous_fallback:
        outcome.decision, outcome.reason = Decision.HANDOFF, "repeated_fallback"
        return Turn(outcome)
    if outcome.decision == Decision.DECLINE:
        return Turn(outcome, response=DECLINE_RESPONSES.get(outcome.reason, "utter_no_match"))
    if outcome.decision == Decision.CLARIFY:
        return Turn(outcome, response="utter_clarify", choices=outcome.choices)
    return Turn(outcome)


def handoff_response(outcome: Outcome, hours: AgentHours) -> Tuple[str, Dict[str, str]]:
    """The domain response (and its fields) that tells a traveler what happens next."""
    if is_open(hours):
        step = "An agent will reply here, usually within a few minutes."
    else:
        step = (
            f"Our agents are away now and back {describe_return(hours)}. "
            "Your question is saved and an agent will reply here then."
        )
    if outcome.urgent:
        return "utter_handoff_urgent", {}
    if outcome.reason == "personal_case":
        return "utter_handoff_personal", {"next_step": step}
    if outcome.reason in ("low_confidence", "clarify_failed", "repeated_fallback"):
        return "utter_handoff_unsure", {"next_step": step}
    if is_open(hours):
        return "utter_handoff_open", {}
    return "utter_handoff_closed", {"agents_back": describe_return(hours)}
