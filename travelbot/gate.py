"""The publication gate: the regression set through the live and the draft knowledge base.

Every question is parsed once by the trained Rasa NLU model (the same for both versions: publishing never
retrains Rasa) and decided by bot.turn.decide_turn exactly as action_respond decides a first message. The
draft is refused when it answers fewer in-scope questions correctly, gives more wrong answers, or answers
any security-sensitive question; the report lists every question whose answer changes.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np

from bot.turn import Parse, decide_turn
from knowledge.embedder import Embedder
from knowledge.embedding_cache import EmbeddingCache
from knowledge.policy import Decision, Policy
from travelbot.settings import ROOT

MODEL_FILE = ROOT / "models" / "traveler.tar.gz"  # the trained Rasa model (as travelbot/asker.py)

DEV_SET = ROOT.parent / "shared" / "eval" / "dev.jsonl"
Parser = Callable[[str], Parse]


@dataclass(frozen=True)
class Question:
    q: str
    expect: Union[str, Tuple[str, ...]]  # "no_answer" or the entry ids that answer it
    kind: Optional[str]
    source: str


def regression_files(corpus_dir: Path, dev_set: Path = DEV_SET) -> List[Path]:
    """The shared dev set plus the questions editors saved beside the corpus (regression/*.jsonl)."""
    files = [dev_set] if dev_set.exists() else []
    return files + sorted((corpus_dir.parent / "regression").glob("*.jsonl"))


def load_questions(files: Iterable[Path]) -> List[Question]:
    questions = []
    for path in files:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                expect = row["expect"]
                expect = expect if expect == "no_answer" else tuple(str(e) for e in expect)
                questions.append(Question(str(row["q"]), expect, row.get("kind"), f"{path.name}:{number}"))
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"{path}:{number}: not a regression question ({exc})") from exc
    return questions


MAX_DECIDED = 20_000  # remembered gate decisions (a few versions of the regression set)


@dataclass(frozen=True)
class Result:
    decision: str
    entry_id: Optional[str]

    def __str__(self) -> str:
        return f"{self.decision} {self.entry_id}" if self.entry_id else self.decision


_DECIDED: Dict[Tuple[str, str, Parse], Result] = {}


def decide(policy: Policy, parse: Parse) -> Result:
    """The bot's answer to a first message; remembered per knowledge-base version, settings and reading.

    A decision depends on nothing else, and the gate asks the same questions of the same version again:
    the draft of one publication is the live version of the next (half of a publication's gate time).
    """
    key = (policy.kb.fingerprint, policy.settings.json(), parse)
    result = _DECIDED.get(key)
    if result is None:
        turn = decide_turn(policy, parse)
        answered = turn.decision == Decision.ANSWER
        result = Result(turn.decision.value, turn.outcome.entry_id if answered else None)
        if len(_DECIDED) >= MAX_DECIDED:
            _DECIDED.clear()
        _DECIDED[key] = result
    return result


@dataclass
class Score:
    in_scope: int = 0
    correct: int = 0
    wrong: int = 0
    sensitive_answered: int = 0

    def add(self, question: Question, result: Result) -> None:
        answered = result.decision == Decision.ANSWER.value
        if question.expect == "no_answer":
            self.wrong += answered
            self.sensitive_answered += answered and question.kind == "sensitive"
            return
        self.in_scope += 1
        right = answered and result.entry_id in question.expect
        self.correct += right
        self.wrong += answered and not right

    def __str__(self) -> str:
        return (
            f"in-scope correct {self.correct}/{self.in_scope}, wrong answers {self.wrong}, "
            f"sensitive answered {self.sensitive_answered}"
        )


@dataclass
class Change:
    question: Question
    live: Result
    draft: Result

    def __str__(self) -> str:
        expect = (
            self.question.expect
            if isinstance(self.question.expect, str)
            else " | ".join(self.question.expect)
        )
        return (
            f"  {self.question.source}: {self.question.q!r}: {self.live} -> {self.draft} (expected {expect})"
        )


@dataclass
class GateReport:
    questions: int
    live: Score
    draft: Score
    changes: List[Change] = field(default_factory=list)

    @property
    def problems(self) -> List[str]:
        found = []
        if self.draft.correct < self.live.correct:
            found.append(f"fewer correct in-scope answers ({self.live.correct} -> {self.draft.correct})")
        if self.draft.wrong > self.live.wrong:
            found.append(f"more wrong answers ({self.live.wrong} -> {self.draft.wrong})")
        if self.draft.sensitive_answered:
            found.append(f"{self.draft.sensitive_answered} security-sensitive question(s) answered")
        return found

    @property
    def passed(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        verdict = "passed" if self.passed else "REFUSED: " + "; ".join(self.problems)
        return f"gate {verdict} ({self.questions} questions; live: {self.live}; draft: {self.draft})"

    def lines(self) -> List[str]:
        head = [self.summary(), f"{len(self.changes)} question(s) change answers:" if self.changes else ""]
        return [line for line in head if line] + [str(c) for c in self.changes]


class PrecomputedEmbedder(Embedder):
    """The questions' vectors, encoded once in one batch and shared by both versions (same model).

    With a ``cache`` (kept beside the index between publications) only questions not seen before are
    encoded: the regression set rarely changes, and encoding it was seconds of every publication.
    """

    def __init__(self, base: Embedder, texts: Sequence[str], cache: Optional[EmbeddingCache] = None):
        super().__init__(base.path)
        self.base = base
        unique = list(dict.fromkeys(texts))
        if not unique:
            self.vectors: Dict[str, np.ndarray] = {}
            return
        cache = cache or EmbeddingCache(None, base.fingerprint())
        self.vectors = dict(zip(unique, cache.encode(unique, base.encode), strict=True))
        cache.save(unique)

    def encode(self, texts: Sequence[str], batch_size: int = 64, progress: bool = False) -> np.ndarray:
        return self.base.encode(texts, batch_size, progress)

    def encode_one(self, text: str) -> np.ndarray:
        vector = self.vectors.get(text)
        return self.base.encode_one(text) if vector is None else vector


def run_gate(
    live: Policy,
    draft: Policy,
    questions: Sequence[Question],
    parse: Parser,
    cache: Optional[EmbeddingCache] = None,
) -> GateReport:
    report = GateReport(len(questions), Score(), Score())
    embedder = PrecomputedEmbedder(live.kb.embedder, [q.q for q in questions], cache)
    live, draft = (Policy(replace(p.kb, embedder=embedder), p.settings) for p in (live, draft))
    for question in questions:
        parsed = parse(question.q)
        before, after = decide(live, parsed), decide(draft, parsed)
        report.live.add(question, before)
        report.draft.add(question, after)
        if before != after:
            report.changes.append(Change(question, before, after))
    return report


def gate_parses_path(index_dir: Path) -> Path:
    return index_dir.with_name(index_dir.name + "-gate-parses.json")


def gate_embeddings_path(index_dir: Path) -> Path:
    return index_dir.with_name(index_dir.name + "-gate-embeddings.npz")


class ParseCache:
    """Rasa's reading of each regression question, kept between publications.

    Publishing never retrains Rasa, so the NLU model (and its reading of a question) stays the same while
    the corpus changes; loading the model is most of a CLI publication's time. Keyed by the model file.
    """

    def __init__(self, path: Path, model_file: Path = MODEL_FILE):
        stat = model_file.stat()
        self.path, self.model = path, f"{model_file.name}:{stat.st_size}:{stat.st_mtime_ns}"
        self.parses: Dict[str, Parse] = {}
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            raw = json.loads(path.read_text(encoding="utf-8"))
            if raw["model"] == self.model:
                self.parses = {text: Parse(**fields) for text, fields in raw["parses"].items()}

    def parser(self, texts: Sequence[str], load: Callable[[], Parser]) -> Parser:
        """A parser for ``texts``: the cached readings, the model loaded (once) only for new texts."""
        missing = [t for t in dict.fromkeys(texts) if t not in self.parses]
        if missing:
            parse = load()
            self.parses.update((text, parse(text)) for text in missing)
            payload = {"model": self.model, "parses": {t: asdict(p) for t, p in self.parses.items()}}
            tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(payload), encoding="utf-8")
            os.replace(tmp, self.path)
        return lambda text: self.parses[text]


def rasa_parser() -> Parser:
    """The trained Rasa NLU model (models/traveler.tar.gz), as `travelbot ask` uses it."""
    if not MODEL_FILE.exists():
        raise SystemExit(f"{MODEL_FILE} not found: train the Rasa model first (make model)")
    import asyncio
    import logging
    import sys

    import structlog
    from rasa.core.agent import Agent

    logging.getLogger("rasa").setLevel(logging.WARNING)
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
    )
    agent = Agent.load(str(MODEL_FILE))
    loop = asyncio.new_event_loop()

    def parse(text: str) -> Parse:
        result = loop.run_until_complete(agent.parse_message(text))
        intent = result.get("intent") or {}
        chosen = next((e["value"] for e in result.get("entities", []) if e.get("entity") == "entry_id"), None)
        return Parse(text, intent.get("name") or "", float(intent.get("confidence") or 0.0), chosen)

    return parse
