"""Is a message a screening question at all? A classifier over embeddings and n-grams.

Nearest-neighbour similarity alone cannot tell "how do I make banana bread"
from "can I bring bread": both land near food entries. A logistic regression
over the same MiniLM embeddings, trained on the FAQ's own phrasings against
labelled examples of everything else, draws that line. The "everything else"
comes from two places: our hand-written sets in ``knowledge/scope/`` (security
-sensitive, personal cases, other agencies, off-topic) and a sample of the
CLINC150 benchmark's training split (CC BY 3.0), whose travel intents are
airline/agency questions and whose other intents are off-topic. The
screening side gets the entries' phrasings and chat phrasings (knowledge/base.py
collects them) and ``knowledge/scope/screening*.yml``: screening questions the
entries under-represent (a trip, an event or a family member mentioned, medical
devices at the scanner, honest mistakes, short follow-ups).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import numpy as np
import yaml
from scipy import sparse

from knowledge.ngrams import NgramFeatures

SCOPE_DIR = Path(__file__).resolve().parent / "scope"
CLINC_FILE = Path(__file__).resolve().parent / "sources" / "clinc150" / "data_full.json"

SCREENING = "screening"
SENSITIVE = "sensitive"
PERSONAL_CASE = "personal_case"
OTHER_AGENCY = "other_agency"
OFF_TOPIC = "off_topic"

# CLINC150 intents that are travel questions for an airline, airport or other agency.
CLINC_OTHER_AGENCY = {
    "book_flight",
    "book_hotel",
    "car_rental",
    "carry_on",
    "exchange_rate",
    "flight_status",
    "international_visa",
    "lost_luggage",
    "plug_type",
    "timezone",
    "travel_alert",
    "travel_notification",
    "travel_suggestion",
    "vaccines",
    "uber",
    "directions",
}
CLINC_PER_INTENT = 20
# The screening side has two kinds of text that one linear class fits badly together: terse ones (the
# entries' phrasings, "aerosol insecticide carry on", thousands of them; short follow-ups like "what
# about cheese") and long, chatty questions like real messages (the entries' chat phrasings, and files
# labelled "screening/written").
# As one class with balanced weights, the few hundred chatty ones counted for little, and a traveler's
# "flying to denver with my dad for elk season, how do we pack the rifle" looked more like the
# other-agency examples. Trained as two classes, each weighted like any other class, and summed back
# into "screening" when scoring.
WRITTEN_SCREENING = SCREENING + "/written"


def labelled_examples(scope_dir: Path = SCOPE_DIR, clinc_file: Path = CLINC_FILE) -> List[Tuple[str, str]]:
    """(text, label) pairs from knowledge/scope/ (each file's label) and CLINC150 (other classes).

    Read once per process while the files are unchanged: every build, fingerprint and publication
    asks for them, and parsing the CLINC150 file each time was a visible part of a publication.
    """
    files = [*sorted(scope_dir.glob("*.yml")), clinc_file]
    stamps = tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in files)
    return list(_read_labelled_examples(scope_dir, clinc_file, stamps))


@functools.lru_cache(maxsize=4)
def _read_labelled_examples(
    scope_dir: Path, clinc_file: Path, _stamps: Tuple[Tuple[str, int, int], ...]
) -> Tuple[Tuple[str, str], ...]:
    pairs: List[Tuple[str, str]] = []
    for path in sorted(scope_dir.glob("*.yml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        label = data["label"]
        pairs.extend((str(text), label) for text in data["examples"])
    clinc = json.loads(clinc_file.read_text(encoding="utf-8"))
    taken: Dict[str, int] = {}
    for text, intent in clinc["train"]:
        if taken.get(intent, 0) >= CLINC_PER_INTENT:
            continue
        taken[intent] = taken.get(intent, 0) + 1
        pairs.append((text, OTHER_AGENCY if intent in CLINC_OTHER_AGENCY else OFF_TOPIC))
    pairs.extend((text, OFF_TOPIC) for text, _ in clinc["oos_train"])
    return tuple(pairs)


def training_fingerprint(pairs: Sequence[Tuple[str, str]]) -> str:
    import hashlib

    digest = hashlib.sha256()
    for text, label in pairs:
        digest.update(f"{label}\t{text}\n".encode())
    return digest.hexdigest()


@dataclass
class ScopeClassifier:
    """Multinomial logistic regression over the MiniLM vector and n-gram TF-IDF, stored as plain arrays.

    The first ``dense_width`` coefficients of each class read the vector, the rest the n-grams
    (knowledge/ngrams.py says why both).
    """

    classes: List[str]
    coef: np.ndarray  # (n_classes, dense_width + ngrams.width)
    intercept: np.ndarray  # (n_classes,)
    ngrams: NgramFeatures
    dense_width: int

    @classmethod
    def train(
        cls, vectors: np.ndarray, texts: Sequence[str], labels: Sequence[str], c: float = 0.5
    ) -> ScopeClassifier:
        """Labels may name a mode of a class ("screening/written"): trained apart, reported together."""
        from sklearn.linear_model import LogisticRegression

        if not len(vectors) == len(texts) == len(labels):
            raise ValueError("one text and one label per vector are required")
        ngrams = NgramFeatures.fit(texts)
        features = sparse.hstack([sparse.csr_matrix(vectors.astype(np.float32)), ngrams.transform(texts)])
        model = LogisticRegression(C=c, max_iter=3000, class_weight="balanced")
        model.fit(features.tocsr(), list(labels))
        coef, intercept = model.coef_, model.intercept_
        # With two classes sklearn keeps one row; softmax over (0, row) gives the same probabilities.
        if len(model.classes_) == 2:
            coef, intercept = np.vstack([np.zeros_like(coef), coef]), np.concatenate([[0.0], intercept])
        return cls(
            list(model.classes_),
            coef.astype(np.float32),
            intercept.astype(np.float32),
            ngrams,
            vectors.shape[1],
        )

    def probabilities(self, vector: np.ndarray, text: str) -> Dict[str, float]:
        """Probability per scope ("screening", "sensitive", ...) of a message and its MiniLM vector."""
        dense = self.coef[:, : self.dense_width]
        row = self.ngrams.transform([text])
        logits = dense @ vector.astype(np.float32) + self.intercept
        logits = logits + (row @ self.coef[:, self.dense_width :].T).ravel()
        logits = logits - logits.max()
        exp = np.exp(logits)
        probs = exp / exp.sum()
        out: Dict[str, float] = {}
        for label, p in zip(self.classes, probs, strict=True):
            scope = label.split("/", 1)[0]
            out[scope] = out.get(scope, 0.0) + float(p)
        return out

    def save(self, path: Path) -> None:
        np.savez(
            path,
            classes=np.array(self.classes),
            coef=self.coef,
            intercept=self.intercept,
            dense_width=np.array(self.dense_width),
            **self.ngrams.to_arrays(),
        )

    @classmethod
    def load(cls, path: Path) -> ScopeClassifier:
        with np.load(path) as data:
            arrays = {name: data[name] for name in data.files}
        return cls(
            [str(c) for c in arrays["classes"]],
            arrays["coef"],
            arrays["intercept"],
            NgramFeatures.from_arrays(arrays),
            int(arrays["dense_width"]),
        )
