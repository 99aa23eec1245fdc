"""`travelbot ask`: the bot's decision for a question, without a running server.

It parses the question with the trained Rasa NLU model and decides with
bot.turn exactly as action_respond does for a conversation's first message.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from pathlib import Path
from typing import Any, Dict

from bot.responses import response_text
from bot.turn import Parse, decide_turn, handoff_response
from knowledge.policy import Decision, Policy
from travelbot import runtime
from travelbot.settings import ROOT, settings

MODEL_FILE = ROOT / "models" / "traveler.tar.gz"


class Asker:
    def __init__(self, agent: Any, policy: Policy):
        self.agent = agent
        self.policy = policy
        self.loop = asyncio.new_event_loop()

    @classmethod
    def load(cls, model_file: Path = MODEL_FILE) -> Asker:
        if not model_file.exists():
            raise SystemExit(f"{model_file} not found: train the Rasa model first (make model)")
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        logging.getLogger("rasa").setLevel(logging.WARNING)
        import structlog
        from rasa.core.agent import Agent

        # Rasa logs through structlog to stdout; stdout here is the JSON output.
        structlog.configure(
            wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
            logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        )

        agent = Agent.load(str(model_file))
        return cls(agent, runtime.policy(progress=True))

    def parse(self, text: str) -> Parse:
        result = self.loop.run_until_complete(self.agent.parse_message(text))
        intent = result.get("intent") or {}
        chosen = next((e["value"] for e in result.get("entities", []) if e.get("entity") == "entry_id"), None)
        return Parse(text, intent.get("name") or "", float(intent.get("confidence") or 0.0), chosen)

    def ask(self, question: str) -> Dict[str, Any]:
        turn = decide_turn(self.policy, self.parse(question))
        outcome = turn.outcome
        corpus = self.policy.kb.corpus
        if turn.decision == Decision.ANSWER and outcome.entry_id:
            text = corpus[outcome.entry_id].answer.strip()
        elif turn.decision == Decision.HANDOFF:
            name, fields = handoff_response(outcome, settings().agent_hours)
            text = response_text(name, **fields)
        else:
            text = response_text(turn.response or "utter_no_match")
            if turn.choices:
                text += "".join(f"\n{i}. {corpus[c].title}" for i, c in enumerate(turn.choices, 1))
        return {**outcome.to_json(), "answer": text}

    def human_readable(self, result: Dict[str, Any]) -> str:
        head = f"[{result['decision']}"
        if result["entry_id"]:
            head += f": {result['entry_id']} ({result['score']:.2f})"
        return f"{head}]\n{result['answer']}"
