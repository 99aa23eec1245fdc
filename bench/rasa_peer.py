"""Rasa's own FAQ answer: DIET + ResponseSelector trained on our entries.

This is what a Rasa user would build: a retrieval intent ``faq/<entry_id>``
whose examples are the texts our index holds for that entry, next to the bot's
own small-talk intents (bot/data/nlu.yml, including out_of_scope). A separate
small Rasa project is generated into a temporary directory, trained with the
installed rasa (`rasa train nlu`) and queried in-process through rasa's Agent.
The trained model is cached under var/bench/ by a fingerprint of its inputs.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Tuple

import yaml

from bench.devset import Prediction
from knowledge.corpus import Corpus
from knowledge.index import question_texts
from travelbot.settings import ROOT

RETRIEVAL_INTENT = "faq"
SMALLTALK_NLU = ROOT / "bot" / "data" / "nlu.yml"
CACHE = ROOT / "var" / "bench" / "rasa_peer"


def pipeline(epochs: int) -> Dict[str, Any]:
    """Rasa's default English pipeline, minus the entity parts, with fewer epochs than its 300."""
    return {
        "recipe": "default.v1",
        "language": "en",
        "pipeline": [
            {"name": "WhitespaceTokenizer"},
            {"name": "CountVectorsFeaturizer"},
            {"name": "CountVectorsFeaturizer", "analyzer": "char_wb", "min_ngram": 1, "max_ngram": 4},
            {"name": "DIETClassifier", "epochs": epochs, "entity_recognition": False,
             "constrain_similarities": True},
            {"name": "ResponseSelector", "epochs": epochs, "retrieval_intent": RETRIEVAL_INTENT,
             "constrain_similarities": True},
        ],
        "policies": [],
    }  # fmt: skip


def project_files(corpus: Corpus, epochs: int) -> Dict[str, str]:
    """Relative path -> content of the generated Rasa project."""
    # The entries' questions (title, phrasings), as a Rasa user would write NLU examples.
    examples: Dict[str, List[str]] = {}
    for entry in corpus:
        for text in question_texts(entry):
            if text not in examples.setdefault(entry.id, []):
                examples[entry.id].append(text)
    faq_nlu = [
        {"intent": f"{RETRIEVAL_INTENT}/{owner}", "examples": "".join(f"- {t}\n" for t in texts)}
        for owner, texts in examples.items()
    ]
    smalltalk = yaml.safe_load(SMALLTALK_NLU.read_text(encoding="utf-8"))
    intents = [block["intent"] for block in smalltalk["nlu"] if "intent" in block]
    domain = {
        "version": "3.1",
        "intents": [*intents, RETRIEVAL_INTENT],
        "responses": {
            f"utter_{RETRIEVAL_INTENT}/{e.id}": [{"text": e.answer_sms}] for e in corpus if e.id in examples
        },
    }

    def dump(data: object) -> str:
        return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=1000)

    return {
        "config.yml": dump(pipeline(epochs)),
        "domain.yml": dump(domain),
        "data/smalltalk.yml": SMALLTALK_NLU.read_text(encoding="utf-8"),
        "data/faq.yml": dump({"version": "3.1", "nlu": faq_nlu}),
    }


def fingerprint(files: Dict[str, str]) -> str:
    import rasa

    digest = hashlib.sha256(rasa.__version__.encode())
    for name in sorted(files):
        digest.update(f"\n{name}\n{files[name]}".encode())
    return digest.hexdigest()[:16]


def child_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def train(corpus: Corpus, epochs: int = 100, cache: Path = CACHE) -> Tuple[Path, Dict[str, float]]:
    """The trained model file and how long training took: wall-clock and CPU seconds (cached by
    fingerprint). CPU time is what the training cost; wall-clock also counts waiting for a core."""
    files = project_files(corpus, epochs)
    target = cache / fingerprint(files)
    meta = target / "meta.json"
    if meta.exists():
        return target / "peer.tar.gz", json.loads(meta.read_text())["train"]
    with tempfile.TemporaryDirectory(prefix="rasa-peer-") as tmp:
        project = Path(tmp)
        for name, content in files.items():
            (project / name).parent.mkdir(parents=True, exist_ok=True)
            (project / name).write_text(content, encoding="utf-8")
        command = [sys.executable, "-m", "rasa", "train", "nlu", "--config", "config.yml",
                   "--domain", "domain.yml", "--nlu", "data", "--out", "models",
                   "--fixed-model-name", "peer"]  # fmt: skip
        env = {**os.environ, "RASA_TELEMETRY_ENABLED": "false", "TF_CPP_MIN_LOG_LEVEL": "3"}
        started, cpu_before = time.monotonic(), child_cpu_seconds()
        subprocess.run(command, cwd=project, env=env, check=True, stdout=subprocess.DEVNULL)
        took = {"wall_s": time.monotonic() - started, "cpu_s": child_cpu_seconds() - cpu_before}
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy(project / "models" / "peer.tar.gz", target / "peer.tar.gz")
    meta.write_text(json.dumps({"train": took, "epochs": epochs}))
    return target / "peer.tar.gz", took


class RasaPeer:
    """Answers with the ResponseSelector's pick when DIET says the intent is the FAQ."""

    def __init__(self, model_file: Path):
        logging.getLogger("rasa").setLevel(logging.WARNING)
        from rasa.core.agent import Agent

        self.loop = asyncio.new_event_loop()
        self.agent = Agent.load(str(model_file))

    def parse(self, text: str) -> Dict[str, Any]:
        return self.loop.run_until_complete(self.agent.parse_message(text))

    def predict(self, text: str) -> Prediction:
        started = time.perf_counter()
        result = self.parse(text)
        elapsed = (time.perf_counter() - started) * 1000
        intent = (result.get("intent") or {}).get("name")
        response = (result.get("response_selector", {}).get(RETRIEVAL_INTENT) or {}).get("response") or {}
        key = response.get("intent_response_key") or ""
        if intent != RETRIEVAL_INTENT or "/" not in key:
            return Prediction(None, 0.0, False, elapsed)
        return Prediction(key.split("/", 1)[1], float(response.get("confidence") or 0.0), True, elapsed)
