"""bench/clinc_finetune.py: fine-tuning on a tiny made-up split, and thresholds chosen on val only."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict

import numpy as np
import pytest
import torch

from bench.clinc_finetune import TuneConfig, Tuned, evaluate_all, fine_tune, head_scorer, logit_scores
from bench.clinc_scoring import OOS, choose_threshold, evaluate

# Four intents; the tuned model must tell apart phrasings it never saw in training.
TRAIN = {
    0: [
        "what is the weather tomorrow",
        "will it rain today",
        "is it going to be sunny this weekend",
        "how cold is it outside",
        "give me the forecast for monday",
        "do i need an umbrella today",
        "what's the temperature right now",
        "is snow expected tonight",
    ],
    1: [
        "what is my account balance",
        "how much money do i have in checking",
        "show me my savings balance",
        "how much is left in my bank account",
        "tell me my current balance",
        "what's the balance on my debit account",
        "how much cash is in my account",
        "check my bank balance please",
    ],
    2: [
        "set an alarm for 7 am",
        "wake me up at six tomorrow",
        "create an alarm for noon",
        "i need an alarm at 5:30",
        "please set my alarm for eight",
        "alarm for 9 in the morning",
        "set a wake up alarm for 6:45",
        "make an alarm for half past seven",
    ],
    3: [
        "play some jazz music",
        "put on my workout playlist",
        "play the latest taylor swift song",
        "i want to listen to rock music",
        "start playing classical music",
        "play something relaxing",
        "can you play my favorite songs",
        "shuffle my music library",
    ],
}
OUT_OF_SCOPE_TRAIN = ["how do i bake bread", "who won the world cup", "what is the capital of peru"]
VAL = [
    ("what's the forecast for tomorrow", 0),
    ("how much money is in my account", 1),
    ("set an alarm for 10 pm", 2),
    ("play some pop music", 3),
    ("how tall is mount everest", OOS),
    ("recommend a good novel", OOS),
]
TEST = [
    ("is it going to rain this afternoon", 0),
    ("how hot will it be on friday", 0),
    ("what's my checking account balance", 1),
    ("how much do i have in savings", 1),
    ("wake me at 6:15 tomorrow", 2),
    ("set an alarm for 4 am", 2),
    ("play some hip hop", 3),
    ("put on some music", 3),
    ("how many legs does a spider have", OOS),
    ("translate hello into french", OOS),
    ("what year did the titanic sink", OOS),
]


def split(rows: list[tuple[str, int]]) -> tuple[list[str], np.ndarray]:
    return [t for t, _ in rows], np.array([label for _, label in rows])


def test_scores_from_logits_and_the_oos_class() -> None:
    logits = np.array([[2.0, 0.0, 1.0], [0.0, 1.0, 3.0], [1.0, 1.0, -5.0]])  # two intents, then OOS
    pred, conf, _ = logit_scores(logits, 2, "max_logit")
    assert pred.tolist() == [0, OOS, 0] and conf[0] == 2.0 and conf[1] == -np.inf
    pred, conf, _ = logit_scores(logits, 2, "softmax")
    assert conf[0] == pytest.approx(np.exp(2) / (np.exp(2) + 1 + np.e))  # the OOS output takes its share
    pred, conf, _ = logit_scores(logits, 2, "energy")
    assert conf[2] == pytest.approx(1 + np.log(2))
    with pytest.raises(ValueError):
        logit_scores(logits, 2, "entropy")


def test_thresholds_are_chosen_on_val_and_test_is_scored_once_with_them() -> None:
    # Val puts the best cut between 5 and 6; on test, 3 would be better (it keeps more in-scope
    # right), so a threshold picked on test would give different test figures.
    rng = np.random.default_rng(0)
    val_conf = np.array([6.0, 7.0, 8.0, 9.0, 5.0, 4.0])
    test_conf = np.array([3.5, 7.0, 8.0, 9.0, 2.0, 1.0])
    truth = np.array([0, 1, 0, 1, OOS, OOS])

    def logits(conf: np.ndarray) -> np.ndarray:
        out = np.zeros((len(conf), 2), dtype=np.float32)
        out[np.arange(len(conf)), np.where(truth == OOS, 0, truth)] = conf
        return out

    vectors = rng.normal(size=(6, 4)).astype(np.float32)
    confs = {"train": val_conf, "val": val_conf, "test": test_conf}
    out: Dict[str, Any] = {
        "n_classes": 2,
        **{f"{s}_logits": logits(c) for s, c in confs.items()},
        **{f"{s}_vectors": vectors for s in ("train", "val", "test")},
        **{f"{s}_labels": truth for s in ("train", "val", "test")},
    }
    results = {r["name"]: r for r in evaluate_all(out)}
    first = results["fine-tuned head, max_logit"]
    assert 5.0 < first["threshold"] <= 6.0
    assert first["val"] == [1.0, 1.0]
    assert first["test"] == pytest.approx([0.75, 1.0])  # 3.5 is under the val threshold: not answered
    _, best_on_test = choose_threshold(*logit_scores(out["test_logits"], 2, "max_logit")[:2], truth)
    assert best_on_test.in_accuracy == 1.0  # what tuning on test would have reported instead


def test_the_tuned_vectors_also_get_a_hybrid_row_when_the_texts_are_given(tmp_path: Path) -> None:
    """Beside the texts (same order as the tuned outputs: a split, then its oos_ split), a TF-IDF row."""
    words = {"balance": ["check my balance", "balance please"], "weather": ["weather today", "is it raining"]}
    split = [[t, name] for name, texts in sorted(words.items()) for t in texts]
    oos = [["sing me a song", "oos"], ["who won the game", "oos"]]
    data = {part: split for part in ("train", "val", "test")} | {
        f"oos_{p}": oos for p in ("train", "val", "test")
    }
    (tmp_path / "data.json").write_text(json.dumps(data))
    truth = np.array([0, 0, 1, 1, OOS, OOS])
    rng = np.random.default_rng(1)
    out: Dict[str, Any] = {
        "n_classes": 2,
        **{f"{s}_logits": rng.normal(size=(6, 3)).astype(np.float32) for s in ("train", "val", "test")},
        **{f"{s}_vectors": rng.normal(size=(6, 4)).astype(np.float32) for s in ("train", "val", "test")},
        **{f"{s}_labels": truth for s in ("train", "val", "test")},
    }
    without = {r["name"] for r in evaluate_all(out)}
    rows = evaluate_all(out, tmp_path / "data.json")
    (hybrid,) = [r for r in rows if r["name"] not in without]
    assert hybrid["name"].startswith("fine-tuned MiniLM + word and char TF-IDF")
    assert hybrid["test"][0] == 1.0  # the words alone tell the two classes apart


@pytest.fixture(scope="module")
def tuned() -> Tuned:
    texts = [t for rows in TRAIN.values() for t in rows] + OUT_OF_SCOPE_TRAIN
    labels = np.array([c for c, rows in TRAIN.items() for _ in rows] + [OOS] * len(OUT_OF_SCOPE_TRAIN))
    config = TuneConfig(epochs=3, lr=3e-4, batch_size=8, max_seq_length=16, warmup=0.2)
    return fine_tune(texts, labels, len(TRAIN), config)


def test_fine_tuning_learns_and_changes_the_encoder(tuned: Tuned) -> None:
    from sentence_transformers import SentenceTransformer

    from knowledge.embedder import model_dir

    assert tuned.head.out_features == len(TRAIN) + 1  # the OOS class
    assert (tuned.outputs(OUT_OF_SCOPE_TRAIN)[0].argmax(axis=1) == len(TRAIN)).all()
    assert tuned.epoch_losses[-1] < 0.3 * tuned.epoch_losses[0]
    assert tuned.wall_seconds > 0 and tuned.cpu_seconds > 0
    original = SentenceTransformer(str(model_dir()), device="cpu")
    before = dict(original.named_parameters())
    moved = [n for n, p in tuned.model.named_parameters() if not torch.equal(p, before[n])]
    assert any("encoder.layer.0." in n for n in moved)  # gradients reach the bottom layer


def test_the_tuned_model_answers_unseen_phrasings_and_refuses_oos(tuned: Tuned) -> None:
    val_texts, val_truth = split(VAL)
    test_texts, test_truth = split(TEST)
    scorer = head_scorer(len(TRAIN), "softmax")
    pred, conf, _ = scorer(tuned.outputs(val_texts)[0])
    threshold, _ = choose_threshold(pred, conf, val_truth)
    pred, conf, _ = scorer(tuned.outputs(test_texts)[0])
    outcome = evaluate(pred, conf >= threshold, test_truth)
    assert outcome.in_accuracy >= 0.85 and outcome.oos_recall >= 2 / 3, outcome
