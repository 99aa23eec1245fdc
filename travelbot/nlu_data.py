"""Rasa training examples for the ask_question intent, drawn from the corpus.

The NLU only needs to tell a screening question from small talk or a request
for a person; the corpus phrasings are exactly that kind of question. The file
is generated at build time (not committed) so it always follows the corpus.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from knowledge.corpus import load_corpus

PER_ENTRY = 3


def write_question_examples(out: Path) -> int:
    corpus = load_corpus()
    examples = []
    for entry in corpus:
        examples.extend(entry.phrasings[:PER_ENTRY])
    examples = sorted(set(examples))
    block = "".join(f"- {text}\n" for text in examples)
    data = {"version": "3.1", "nlu": [{"intent": "ask_question", "examples": block}]}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=1000), encoding="utf-8")
    return len(examples)
