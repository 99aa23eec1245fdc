"""The bot's fixed texts, read from the Rasa domain so they live in one place."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Dict

import yaml

DOMAIN_FILE = Path(__file__).resolve().parent / "domain.yml"


@lru_cache(maxsize=1)
def _responses() -> Dict[str, str]:
    domain = yaml.safe_load(DOMAIN_FILE.read_text(encoding="utf-8"))
    return {name: variants[0]["text"] for name, variants in domain["responses"].items()}


def response_text(name: str, **slots: str) -> str:
    """The first variant of a domain response, with ``{slot}`` fields filled."""
    text = _responses()[name]
    for key, value in slots.items():
        text = text.replace("{" + key + "}", value)
    return text
