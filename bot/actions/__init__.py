"""Custom actions, served by the rasa-sdk action server (`rasa run actions --actions bot.actions`).

With TRAVELBOT_WARMUP=1 (set by the Procfile) the knowledge base and the
sentence model load when the server starts, not on the first traveler message.
"""

import os

from bot.actions.respond import ActionRespond

if os.environ.get("TRAVELBOT_WARMUP") == "1":
    from travelbot import runtime

    runtime.policy().decide("warm up")
    runtime.handoff_store()

__all__ = ["ActionRespond"]
