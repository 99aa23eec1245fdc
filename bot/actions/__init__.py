"""Custom actions, served by the rasa-sdk action server (`rasa run actions --actions bot.actions`).

With TRAVELBOT_WARMUP=1 (set by the Procfile) the knowledge base and the
sentence model load when the server starts, not on the first traveler message,
and what they made is then frozen out of the garbage collector's full scans
(``gc.freeze``), as in the Rasa server (travelbot/rasa_server.py).
"""

import gc
import os

from bot.actions.respond import ActionRespond

if os.environ.get("TRAVELBOT_WARMUP") == "1":
    from travelbot import runtime
    from travelbot.settings import settings

    policy = runtime.policy()
    policy.kb.embedder.set_threads(settings().server.answer_threads)  # before the encoder is made
    policy.decide("warm up")  # loads the index and the ONNX sentence model (PyTorch only if not exported)
    runtime.handoff_store()
    gc.collect()
    gc.freeze()

__all__ = ["ActionRespond"]
