"""The benchmark's own scoring code, on small hand-made cases (no model, no full runs)."""

import datetime as dt

import numpy as np
import pytest
import yaml

from bench.clinc_scoring import (
    OOS,
    best_and_margin,
    choose_threshold,
    choose_two_thresholds,
    class_topk_mean,
    evaluate,
    mahalanobis,
)
from bench.devset import (
    DevRow,
    Prediction,
    best_balanced,
    cross_fitted,
    percentile,
    score,
    sweep,
    with_threshold,
)
from bench.peers import BM25Peer, tokens
from bench.rasa_peer import project_files
from bench.scale import recall_at_10
from knowledge.corpus import Corpus
from knowledge.schema import Entry, Kind

ROWS = [
    DevRow("can i bring a knife", ("knives",)),
    DevRow("power bank in checked bag", ("power-banks", "lithium-batteries")),
    DevRow("gone entry", ("retired-entry",)),
    DevRow("bake bread", (), "off_topic"),
    DevRow("flight status", (), "other_agency"),
]
KNOWN = {"knives", "power-banks", "lithium-batteries"}


def test_dev_score_counts_right_wrong_and_no_answers() -> None:
    preds = [
        Prediction("knives", 0.9, True, 1.0),  # right
        Prediction("knives", 0.8, True, 2.0),  # wrong entry: a wrong confident answer
        Prediction("retired-entry", 0.9, True, 3.0),  # skipped: not in the corpus
        Prediction(None, 0.1, False, 4.0),  # out of scope, not answered: right
        Prediction("knives", 0.7, True, 5.0),  # out of scope, answered: wrong
    ]
    m = score(ROWS, preds, KNOWN)
    assert (m.in_total, m.in_correct, m.skipped_not_in_corpus, m.total) == (2, 1, 1, 4)
    assert m.wrong == 2
    assert m.oos_no_answer == {"off_topic": 1, "other_agency": 0}
    assert m.oos_recall == 0.5
    assert m.p50_ms == 3.0 and m.p95_ms == 5.0


def test_clarify_is_not_correct_even_with_the_right_top_entry() -> None:
    preds = [Prediction("knives", 0.9, False, decision="clarify")] + [Prediction(None, 0, False)] * 4
    m = score(ROWS, preds, KNOWN)
    assert m.in_correct == 0 and m.wrong == 0 and m.decisions == {"clarify": 1}


def test_threshold_sweep_trades_answers_for_no_answers() -> None:
    ranked = [
        Prediction("knives", 0.9, True),
        Prediction("power-banks", 0.6, True),
        Prediction("knives", 0.5, True),
        Prediction("knives", 0.4, True),
        Prediction("power-banks", 0.95, True),
    ]
    points = sweep(ROWS, ranked, KNOWN)
    assert [p.threshold for p in points] == [0.4, 0.5, 0.6, 0.9, 0.95, float("inf")]
    assert points[0].in_accuracy == 1.0 and points[0].oos_recall == 0.0
    assert points[-1].in_accuracy == 0.0 and points[-1].oos_recall == 1.0
    best = best_balanced(points)
    # 0.5 answers both in-scope lines and declines the 0.4 line: (1.0 + 0.5) / 2; 0.6 ties and is higher.
    assert best.threshold == 0.6 and best.balanced == 0.75
    answered = [p.answered for p in with_threshold(ranked, best.threshold)]
    assert answered == [True, True, False, False, True]


def test_cross_fitting_uses_the_other_fold_threshold() -> None:
    rows = [DevRow("a", ("x",)), DevRow("b", ("x",)), DevRow("c", (), "off"), DevRow("d", (), "off")]
    ranked = [Prediction("x", 0.9, True), Prediction("x", 0.8, True), Prediction("x", 0.3, True),
              Prediction("x", 0.4, True)]  # fmt: skip
    out = cross_fitted(rows, ranked, {"x"})
    # a and c get 0.8 (best on b, d); b and d get 0.9 (best on a, c), which declines b's 0.8.
    assert [p.answered for p in out] == [True, False, False, False]


def test_percentile_nearest_rank() -> None:
    assert percentile(list(range(1, 101)), 95) == 95
    assert percentile([3.0], 95) == 3.0
    assert percentile([1, 2], 50) == 1


def test_class_topk_mean_and_margin() -> None:
    sims = np.array([[0.9, 0.1, 0.8, 0.7, 0.6]], dtype=np.float32)
    labels = np.array([0, 0, 1, 1, 1])
    assert class_topk_mean(sims, labels, 2, 1)[0].tolist() == pytest.approx([0.9, 0.8])
    assert class_topk_mean(sims, labels, 2, 2)[0].tolist() == pytest.approx([0.5, 0.75])
    # a class with fewer examples than k averages what it has
    assert class_topk_mean(sims, labels, 2, 3)[0].tolist() == pytest.approx([0.5, 0.7])
    pred, best, margin = best_and_margin(np.array([[0.5, 0.75], [0.9, 0.2]]))
    assert pred.tolist() == [1, 0]
    assert best.tolist() == pytest.approx([0.75, 0.9])
    assert margin.tolist() == pytest.approx([0.25, 0.7])


def test_mahalanobis_reads_distance_in_the_directions_classes_vary_little() -> None:
    """Two classes spread along x, tight along y: a step off the line in y is farther than ten along x."""
    rng = np.random.default_rng(0)
    spread = rng.normal(0, [3.0, 0.05], (400, 2))
    vectors = np.vstack([spread, spread + np.array([0.0, 1.0]), [[50.0, 50.0]]])
    labels = np.array([0] * 400 + [1] * 400 + [OOS])  # the OOS row is left out of the fit
    pred, conf, _ = mahalanobis(vectors, labels, 2)(np.array([[10.0, 0.0], [0.0, 0.5], [0.0, 0.9]]))
    assert pred[0] == 0 and pred[2] == 1
    along, between, near = conf
    assert between < along < 0 and near > along  # halfway between the lines is the least in-scope


def test_threshold_choice_on_validation() -> None:
    truth = np.array([0, 1, 1, OOS, OOS])
    pred = np.array([0, 1, 0, 1, 0])
    conf = np.array([0.9, 0.8, 0.7, 0.3, 0.75])
    t, outcome = choose_threshold(pred, conf, truth)
    assert 0.75 < t <= 0.8
    assert (outcome.in_accuracy, outcome.oos_recall) == pytest.approx((2 / 3, 1.0))
    assert evaluate(pred, conf >= 0.0, truth).oos_recall == 0.0
    margin = np.array([0.5, 0.5, 0.01, 0.01, 0.01])
    _, both = choose_two_thresholds(pred, conf, margin, truth)
    assert (both.in_accuracy, both.oos_recall) == pytest.approx((2 / 3, 1.0))


def test_recall_at_10_counts_overlap() -> None:
    truth = np.array([list(range(10)), list(range(10, 20))])
    found = np.array([list(range(10)), [*range(10, 15), *range(100, 105)]])
    assert recall_at_10(found, truth) == 0.75


def _entry(entry_id: str, title: str, phrasings: list) -> Entry:
    return Entry(
        id=entry_id,
        kind=Kind.TOPIC,
        title=title,
        phrasings=phrasings,
        answer="An answer long enough to be valid.",
        answer_sms="Short answer.",
        source_url="https://www.tsa.gov/x",
        last_reviewed=dt.date(2024, 1, 1),
    )


CORPUS = Corpus(
    [
        _entry("knives", "Knives", ["can i bring a pocket knife", "knife in carry on", "box cutter"]),
        _entry("power-banks", "Power banks", ["portable charger", "battery pack in luggage", "power bank"]),
        # fillers, so that a word in one entry is rare (BM25's idf is 0 for a word in half the documents)
        _entry("real-id", "REAL ID", ["do i need a real id", "real id deadline", "star on my license"]),
        _entry("pets", "Pets", ["can my dog fly", "cat carrier screening", "traveling with a pet"]),
        _entry("locks", "Locks", ["tsa approved lock", "can i lock my suitcase", "luggage lock"]),
    ]
)


@pytest.mark.parametrize("per_entry", [True, False])
def test_bm25_peer_finds_the_entry_by_words(per_entry: bool) -> None:
    peer = BM25Peer(CORPUS, per_entry=per_entry)
    assert peer.best("is a pocket knife allowed")[0] == "knives"
    assert peer.best("my portable charger")[0] == "power-banks"
    assert peer.best("pocket knife")[1] > peer.best("weather tomorrow")[1]
    assert tokens("Can I bring the Knife?") == ["bring", "knife"]


def test_rasa_peer_project_has_one_retrieval_intent_per_entry() -> None:
    files = project_files(CORPUS, epochs=3)
    faq = yaml.safe_load(files["data/faq.yml"])["nlu"]
    assert [block["intent"] for block in faq] == [f"faq/{e.id}" for e in CORPUS]
    knives = next(block for block in faq if block["intent"] == "faq/knives")
    assert "- box cutter\n" in knives["examples"]
    domain = yaml.safe_load(files["domain.yml"])
    assert set(domain["responses"]) == {f"utter_faq/{e.id}" for e in CORPUS}
    assert "faq" in domain["intents"] and "out_of_scope" in domain["intents"]
    config = yaml.safe_load(files["config.yml"])
    selector = next(c for c in config["pipeline"] if c["name"] == "ResponseSelector")
    assert selector["epochs"] == 3 and selector["retrieval_intent"] == "faq"
