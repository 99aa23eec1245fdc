"""Rasa's RulePolicy, reading only the recent part of a long conversation. (config.yml uses it.)

RulePolicy turns the whole conversation session into dialogue states three times per traveler
message, so its cost grows with every turn. Yet a rule can only look at as many states as it has:
``RulePolicy._is_rule_applicable`` accepts any rule for states further back than its length. So
when nothing else in a state depends on older events, the recent turns give the same prediction.

States also carry the values of slots that influence the conversation and the active form, which
older events may have set. This domain has neither (its one slot, ``choices``, does not influence
the conversation, and there are no forms). When a domain has them, or while a loop is active, the
whole conversation is used as before. tests/test_recent_rule_policy.py compares both on long
conversations.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from rasa.core.policies.rule_policy import RULES, RULES_FOR_LOOP_UNHAPPY_PATH, RulePolicy
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.shared.core.domain import Domain, State
from rasa.shared.core.events import ActionExecuted
from rasa.shared.core.trackers import DialogueStateTracker

SPARE_TURNS = 2  # beyond the longest rule, so the cut-off turn is never one a rule reads


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.POLICY_WITHOUT_END_TO_END_SUPPORT, is_trainable=True)
class RecentRulePolicy(RulePolicy):
    def _turns_needed(self) -> int:
        rule_keys = [
            key for part in (RULES, RULES_FOR_LOOP_UNHAPPY_PATH) for key in self.lookup.get(part, {})
        ]
        return max((len(self._rule_key_to_state(key)) for key in rule_keys), default=0) + SPARE_TURNS

    def recent_part(self, tracker: DialogueStateTracker, domain: Domain) -> DialogueStateTracker:
        """The tracker's last turns, when older events cannot change a state; else the tracker."""
        if (
            tracker.is_rule_tracker
            or tracker.active_loop_name
            or domain.form_names
            or any(slot.influence_conversation for slot in domain.slots)
        ):
            return tracker
        events = list(tracker.events)
        turn_starts = [i for i, event in enumerate(events) if isinstance(event, ActionExecuted)]
        keep = self._turns_needed()
        if len(turn_starts) <= keep:
            return tracker
        return DialogueStateTracker.from_events(
            tracker.sender_id, events[turn_starts[-keep] :], domain.slots, sender_source=tracker.sender_source
        )

    def _prediction_states(
        self,
        tracker: DialogueStateTracker,
        domain: Domain,
        use_text_for_last_user_input: bool = False,
        rule_only_data: Optional[Dict[str, Any]] = None,
    ) -> List[State]:
        return super()._prediction_states(
            self.recent_part(tracker, domain), domain, use_text_for_last_user_input, rule_only_data
        )
