"""The Rasa server: ``rasa run`` with five fixes to Rasa 3.6 applied first.

1. Nothing silently falls back to memory. Rasa wraps the configured tracker store in
``FailSafeTrackerStore``, which answers a failed read with a new, empty conversation and saves a failed
write to an in-memory store nothing reads again: a database outage loses turns without a trace. Our
stores retry while the database is unreachable (travelbot/durable_tracker.py); after that the error
reaches the channel, which answers with a clear, retryable error.

2. A slowness. Rasa 3.6 checks every action server response with ``jsonschema.validate(result, schema)``
(``RemoteAction._validate_action_result``). That call first validates the schema itself, Rasa's large
constant events schema, against the JSON Schema metaschema, and builds a new validator, on every
response. py-spy showed this was about half of the Rasa server's CPU time per traveler message. The
response is still validated here against the same schema, with the same error message. Only the
validators are built and the schema checked once, at the first response, and each event is checked
against the one branch of the schema its name selects (``ActionResponseCheck``): 1.4 -> 0.17 ms.

3. Its log lines are our JSON lines. Rasa applies ``--logging-config-file`` (travelbot/logs.py: redacted
JSON) and then installs coloredlogs, which replaces that handler with its own coloured text format. When
our configuration is in place, coloredlogs is not installed.

4. A slow start. The classifier's model file is read with skops, whose import walks every attribute of
every loaded module (``pickle.whichmodule`` over ``sys.modules``, for its list of trusted numpy types).
Imported after TensorFlow, whose lazily loaded modules answer such lookups slowly, that took seconds of
the server's start; it is imported first here (same list: numpy's modules come before TensorFlow's).

5. Garbage-collector pauses. Once the model is loaded, the objects made at start (TensorFlow's and
Rasa's modules, the model: millions) are moved out of the collector's reach with ``gc.freeze()``; a full
collection otherwise re-scanned all of them every few hundred messages, a pause of a third of a second.

Usage (travelbot.launch builds the command line): ``python -m travelbot.rasa_server run --model ...``,
which takes the same arguments as ``rasa``.
"""

from __future__ import annotations

import functools
import gc
import logging
import os
import sys
from typing import Any, Dict, Optional

import skops.io  # noqa: F401  (before TensorFlow: point 4 above)

# isort: split
import rasa.core.run
import rasa.utils.io
from jsonschema.exceptions import best_match
from jsonschema.protocols import Validator
from jsonschema.validators import validator_for
from rasa.core.actions.action import RemoteAction
from rasa.core.agent import Agent
from rasa.core.tracker_store import InMemoryTrackerStore, TrackerStore
from rasa.shared.constants import DOCS_BASE_URL
from rasa.shared.core.domain import Domain

from travelbot import rasa_speedups
from travelbot.logs import JsonFormatter


def _validator(schema: Dict[str, Any]) -> Validator:
    cls = validator_for(schema)
    cls.check_schema(schema)
    validator: Validator = cls(schema)
    return validator


class ActionResponseCheck:
    """Rasa's action response schema, checked once per response instead of once per event kind.

    Each event must match exactly one of about 25 ``oneOf`` branches, told apart only by the
    ``event`` name (a ``const``). A general validator tries every branch for every event: over a
    millisecond per response. ``accepts`` checks each event against its own branch only: when that
    passes, every other branch fails on the name, so exactly one matches and the full schema accepts
    too. Anything else (an unknown name, a failing branch, a malformed response) is left to the full
    schema, which decides and gives Rasa's own error.
    """

    def __init__(self, schema: Dict[str, Any]):
        self.full = _validator(schema)
        events = schema["properties"]["events"]
        items = events["items"]
        shell = {**schema, "properties": {**schema["properties"], "events": {**events, "items": {}}}}
        self.shell = _validator(shell)
        common = {key: value for key, value in items.items() if key != "oneOf"}
        names = [branch["properties"]["event"]["const"] for branch in items["oneOf"]]
        self.per_event = {
            name: _validator({**common, "allOf": [branch]})
            for name, branch in zip(names, items["oneOf"], strict=True)
            if names.count(name) == 1
        }

    def accepts(self, result: Any) -> bool:
        """True only where the full schema accepts ``result`` (False: ask it)."""
        if not self.shell.is_valid(result):
            return False
        for event in result.get("events") or ():
            name = event.get("event") if isinstance(event, dict) else None
            check = self.per_event.get(name) if isinstance(name, str) else None
            if check is None or not check.is_valid(event):
                return False
        return True


@functools.lru_cache(maxsize=1)
def action_response_check() -> ActionResponseCheck:
    return ActionResponseCheck(RemoteAction.action_response_format_spec())


def validate_action_result(self: RemoteAction, result: Dict[str, Any]) -> bool:
    """What ``jsonschema.validate`` does for Rasa, with the validators built once."""
    check = action_response_check()
    if check.accepts(result):
        return True
    error = best_match(check.full.iter_errors(result))
    if error is not None:
        error.message += (
            ". Failed to validate Action server response from API, "
            "make sure your response from the Action endpoint is valid. "
            f"For more information about the format visit {DOCS_BASE_URL}/custom-actions"
        )
        raise error
    return True


def tracker_store_as_configured(store: Optional[TrackerStore], domain: Domain) -> TrackerStore:
    """``Agent._create_tracker_store`` without the ``FailSafeTrackerStore`` wrapper."""
    if store is None:
        return InMemoryTrackerStore(domain)
    store.domain = domain
    return store


_colored_logging = rasa.utils.io.configure_colored_logging


def keep_json_logging(loglevel: str) -> None:
    """``configure_colored_logging``, unless our JSON logging is configured (then only the level)."""
    root = logging.getLogger()
    if any(isinstance(handler.formatter, JsonFormatter) for handler in root.handlers):
        root.setLevel(loglevel or os.environ.get("LOG_LEVEL") or "INFO")
        return
    _colored_logging(loglevel)


_load_agent_on_start = rasa.core.run.load_agent_on_start


async def load_agent_then_freeze(*args: Any, **kwargs: Any) -> Agent:
    """Rasa's ``load_agent_on_start``, then the objects made so far are frozen (point 5 above)."""
    loaded = await _load_agent_on_start(*args, **kwargs)
    gc.collect()
    gc.freeze()
    return loaded


def apply_fixes() -> None:
    RemoteAction._validate_action_result = validate_action_result
    rasa.utils.io.configure_colored_logging = keep_json_logging
    Agent._create_tracker_store = staticmethod(tracker_store_as_configured)
    rasa_speedups.apply()
    rasa.core.run.load_agent_on_start = load_agent_then_freeze


def main() -> None:
    from rasa.__main__ import main as rasa_main

    apply_fixes()
    sys.argv[0] = "rasa"
    rasa_main()


if __name__ == "__main__":
    main()
