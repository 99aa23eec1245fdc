"""An empty bot turn that is not a handoff means the assistant failed: every channel apologises instead.

When the action server is down (killed, restarting, overloaded past its timeout), Rasa logs the failed
action and ends the turn with nothing to say: the REST webhook answers ``[]``, and SMS or Messenger
would send nothing at all, so the traveler waits for a reply that never comes. Every intent of this
bot leads to ``action_respond``, which always utters, so an empty turn in a conversation that is not
paused means the assistant failed. In a paused conversation (handed to a person, who replies) silence
is right.

The apology says to try again or ask for a person. The conversation is not handed off: the bot cannot
record a handoff without its action server, and pausing every conversation that arrived during an
action-server restart would leave travelers waiting for agents once the bot is back.
"""

from __future__ import annotations

import logging
from typing import Any, Optional

logger = logging.getLogger(__name__)

UNAVAILABLE_TEXT = (
    "Sorry, something went wrong on my side and I could not answer that. "
    "Please try again in a minute, or ask for a person."
)


async def failed_silently(tracker_store: Optional[Any], sender: str) -> bool:
    """True when an empty turn means the assistant failed, not that a person has the conversation.

    ``tracker_store``: the Rasa server's (``request.app.ctx.agent.tracker_store``); without one
    (a channel tested apart from Rasa) nothing can be told, and nothing is added.
    """
    if tracker_store is None:
        return False
    try:
        tracker = await tracker_store.retrieve(sender)
    except Exception:  # the store being down is a failure too: apologise rather than stay silent
        logger.exception("could not read the conversation of %s to check for a handoff", sender)
        return True
    return tracker is None or not tracker.is_paused()


def tracker_store_of(app: Any) -> Optional[Any]:
    """The tracker store of the Rasa server running this Sanic app, if there is one."""
    agent = getattr(getattr(app, "ctx", None), "agent", None)
    return getattr(agent, "tracker_store", None)
