"""The decision: answer, clarify, hand off or decline.

Order matters and is deliberate:
1. security-sensitive messages (threats, emergencies, evading screening) are
   never answered from the corpus: hand off, flagged urgent;
2. messages the scope classifier puts outside screening are declined (or, for
   a traveler's own case that needs records, handed to a person);
3. otherwise the nearest entries decide: a clear winner is answered, two or
   three close ones are offered as choices, a weak match goes to a person.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum
from typing import Dict, List, Optional

from knowledge.base import KnowledgeBase
from knowledge.index import Candidate
from knowledge.lexical import LexicalScorer
from knowledge.scope import OTHER_AGENCY, PERSONAL_CASE, SCREENING, SENSITIVE
from travelbot.settings import RetrievalSettings


class Decision(str, Enum):
    ANSWER = "answer"
    CLARIFY = "clarify"
    HANDOFF = "handoff"
    DECLINE = "decline"


# Phrases that only make sense when someone wants to defeat screening or is
# reporting a threat or an emergency. Kept narrow: ordinary questions about
# prohibited items ("can I pack tear gas?") must still get their answer.
_SENSITIVE_PATTERNS = [
    r"\bsneak(?!ers?\b)\w*\b",  # (not the shoes)
    r"\bsmuggl\w*\b",
    r"\bundetect\w*\b",
    r"\bwithout (?:\w+ ){0,3}(?:noticing|knowing|finding|seeing|detecting)\b",
    r"\b(?:get|getting|got|slip|sneak|bring|take|carry)\b.{0,40}\b(?:past|by|through|thru)\b.{0,25}"
    r"\b(?:undetected|unnoticed|without being (?:caught|seen|found))\b",
    r"\bblind ?spots?\b",
    r"\b(?:doesn'?t|does not|won'?t|will not|don'?t|do not|can'?t|cannot|not)\s+"
    r"(?:show up|be seen|be detected|be found|detect|see|pick up|catch)\b.{0,30}"
    r"\b(?:x-?ray|scanner|detector|machine|screening|security|tsa)\b",
    r"\b(?:x-?ray|scanner|detector|screening)\b.{0,30}"
    r"\b(?:can'?t|cannot|won'?t|doesn'?t|does not|will not)\s+(?:see|detect|find|catch|pick up)\b",
    r"\bhijack\w*\b",
    r"\bbomb threat\b",
    # (not "point-and-shoot" cameras, a photo "shoot", "stab vests" or "blow up" pillows and mattresses)
    r"\b(?:threat\w*|kill|(?<!-)(?<!\ba )(?<!\bthe )(?<!photo )(?<!wedding )shoot|"
    r"stab(?![\s-]*(?:vest|proof|resistant))|hurt|attack|"
    r"blow up(?!\s+(?:a\s+|my\s+|the\s+)?(?:travel\s+|neck\s+|inflatable\s+|air\s+)?"
    r"(?:pillow|mattress|bed|balloon|pool|raft|float|toy)s?\b))\b.{0,40}\b(?:me|him|her|them|us|people|someone|"
    r"everyone|plane|flight|airport|checkpoint|officer|agent)\b",
    r"\b(?:smell|smells|smelled|smelling)\b.{0,20}\b(?:gas|smoke|burning|fumes)\b",
    r"\bunattended (?:bag|backpack|luggage|suitcase|package)\b",
    r"\bsuspicious\b",
    r"\bacting (?:really |very )?(?:weird|strange|odd|suspicious|erratic)\b",
    r"\bfake (?:id|license|passport|boarding pass)\b",
    r"\bbribe\w*\b",
    r"\bpay(?:ing)?\s+(?:off\s+)?(?:an?\s+|the\s+)?(?:tsa\s+)?(?:officers?|agents?|screeners?|guards?|security)"
    r"\s+(?:off\b|to\b)",
    # the best way to get contraband through; a weapon that gets past a detector
    r"\b(?:best|easiest|safest|quickest)\s+way\s+to\s+(?:get|take|bring|carry|sneak|hide|fly with)\b.{0,30}"
    r"\b(?:weed|marijuana|cannabis|drugs|cocaine|heroin|meth|edibles)\b",
    r"\b(?:knife|knives|blades?|guns?|firearms?|weapons?)\b.{0,40}"
    r"\b(?:get|gets|getting|make it|slip|slips)\s+(?:past|by)\s+(?:the\s+)?"
    r"(?:metal detectors?|scanners?|x-?rays?|security|tsa|checkpoint)\b",
    # someone in crisis: a person, now (the urgent reply says to call 911)
    r"\b(?:just|has|have|is|'s)\s+(?:collapsed|passed out|fainted)\b",
    r"\b(?:unconscious|unresponsive|(?:not|isn'?t|is not|stopped) (?:breathing|responding)|having a "
    r"(?:heart attack|stroke|seizure))\b",
    r"\b(?:kill|hurt|harm|cut)(?:ing)?\s+myself\b",
    r"\bsuicid\w*\b",
    r"\b(?:end(?:ing)? my (?:own )?life|want to die)\b",
    # asking where screening is weak
    r"\b(?:usually|often|typically|commonly|always|sometimes|tend to|most likely to)\s+(?:miss|overlook)\b",
    r"\bcheck(?:s|ed)?\s+(?:the\s+)?least\b(?!\s+(?:expensive|amount|number|bit|of|once|twice)\b)",
    r"\b(?:weakest|laxest|least strict)\b.{0,30}\b(?:checkpoint|security|screening|lane|airport|tsa)\b",
    # explosives as a weapon, not the prohibited items travelers ask about (blasting caps, replicas)
    r"\bliquid explosives?\b",
    r"\bexplosive devices?\b",
    r"\bpipe bombs?\b",
    r"\b(?:make|build|assemble|hide|smuggle)\s+(?:a |an )?(?:bomb|explosive)s?\b",
]
_SENSITIVE_RE = re.compile("|".join(_SENSITIVE_PATTERNS), re.IGNORECASE)


def looks_sensitive(text: str) -> bool:
    return bool(_SENSITIVE_RE.search(text))


@dataclass
class Outcome:
    """What the retrieval layer decided for one message, and why."""

    decision: Decision
    reason: str
    entry_id: Optional[str] = None
    score: float = 0.0
    candidates: List[Candidate] = field(default_factory=list)
    choices: List[str] = field(default_factory=list)
    scope: Dict[str, float] = field(default_factory=dict)
    urgent: bool = False

    def candidate_list(self) -> List[Dict[str, object]]:
        return [{"entry_id": c.entry_id, "score": round(c.score, 4)} for c in self.candidates]

    def to_json(self) -> Dict[str, object]:
        return {
            "decision": self.decision.value,
            "reason": self.reason,
            "entry_id": self.entry_id,
            "score": round(self.score, 4),
            "choices": self.choices,
            "urgent": self.urgent,
            "candidates": self.candidate_list(),
        }


class Policy:
    def __init__(self, kb: KnowledgeBase, settings: RetrievalSettings):
        self.kb = kb
        self.settings = settings
        self.lexical = LexicalScorer(kb.corpus)

    def decide(self, text: str) -> Outcome:
        s = self.settings
        vector = self.kb.embedder.encode_one(text)
        probs = self.kb.scope.probabilities(vector, text)
        found = self.kb.index.search(vector, s.top_k)[: s.rerank_depth]
        reranked = self.lexical.rerank(text, found, s.title_weight, s.vocabulary_weight, s.distinctive_weight)
        candidates = reranked[: max(5, s.max_choices)]
        top = candidates[0] if candidates else Candidate("", 0.0)

        def outcome(decision: Decision, reason: str, **kw: object) -> Outcome:
            return Outcome(decision, reason, candidates=candidates, scope=probs, **kw)  # type: ignore[arg-type]

        # A near-exact match with an FAQ phrasing outweighs the scope classifier's
        # doubts; the narrow sensitive patterns are never outweighed.
        strong_match = bool(found) and found[0].score >= s.trust_match_above
        if looks_sensitive(text) or (probs.get(SENSITIVE, 0.0) >= s.sensitive_min and not strong_match):
            return outcome(Decision.HANDOFF, "sensitive", urgent=True)

        in_scope = probs.get(SCREENING, 0.0)
        if in_scope < s.scope_min and not strong_match:
            label = max(probs, key=lambda k: probs[k])
            if label == PERSONAL_CASE and probs[label] >= s.personal_min:
                return outcome(Decision.HANDOFF, "personal_case")
            if label in (OTHER_AGENCY, PERSONAL_CASE):
                return outcome(Decision.DECLINE, OTHER_AGENCY)
            return outcome(Decision.DECLINE, "off_topic")

        if not candidates:
            return outcome(Decision.HANDOFF, "low_confidence")
        close = [c for c in candidates if top.score - c.score <= s.clarify_window][: s.max_choices]
        gap = top.score - (candidates[1].score if len(candidates) > 1 else 0.0)
        if top.score >= s.answer_min and (gap >= s.answer_margin or top.score >= s.answer_sure):
            return outcome(Decision.ANSWER, "confident", entry_id=top.entry_id, score=top.score)
        if top.score >= s.clarify_min and len(close) >= 2:
            return outcome(
                Decision.CLARIFY, "close_candidates", score=top.score, choices=[c.entry_id for c in close]
            )
        if top.score >= s.answer_min:
            return outcome(Decision.ANSWER, "confident", entry_id=top.entry_id, score=top.score)
        if top.score >= s.handoff_min:
            return outcome(Decision.HANDOFF, "low_confidence", score=top.score)
        return outcome(Decision.DECLINE, "no_match", score=top.score)
