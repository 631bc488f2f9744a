"""`Evaluation.confused_pairs`: the cells off the diagonal with the most weight, against a
brute-force oracle over every (true, predicted) pair."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from chart_evaluations import multilabel
from chart_evaluations import undefined as undefined_evaluation
from hypothesis import given, settings
from hypothesis import strategies as st

from epoch_eval import evaluate
from epoch_eval.metrics import ConfusedPair


@st.composite
def predictions(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, int]:
    n_classes = draw(st.integers(3, 7))
    n = draw(st.integers(1, 60))
    y_true = np.array(draw(st.lists(st.integers(0, n_classes - 1), min_size=n, max_size=n)))
    y_pred = np.array(draw(st.lists(st.integers(0, n_classes - 1), min_size=n, max_size=n)))
    weights = None
    if draw(st.booleans()):  # small integers make ties likely, halves make them weighted
        weights = np.array(draw(st.lists(st.integers(1, 4), min_size=n, max_size=n))) / 2.0
    k = draw(st.integers(1, 12))
    return y_true, y_pred, weights, k


def oracle(y_true, y_pred, weights, names, k):
    """Every off-diagonal pair by loops, sorted by (-count, true, predicted)."""
    w = np.ones(len(y_true)) if weights is None else weights
    pairs = []
    for t in range(len(names)):
        support = sum(w[r] for r in range(len(y_true)) if y_true[r] == t)
        for p in range(len(names)):
            if t == p:
                continue
            count = sum(w[r] for r in range(len(y_true)) if y_true[r] == t and y_pred[r] == p)
            if count > 0:
                pairs.append((-count, t, p, count / support))
    pairs.sort()
    return [(names[t], names[p], -c, rate) for c, t, p, rate in pairs[:k]]


@settings(max_examples=80, deadline=None, derandomize=True)
@given(predictions())
def test_confused_pairs_match_the_brute_force_oracle(case):
    y_true, y_pred, weights, k = case
    n_classes = int(max(y_true.max(), y_pred.max())) + 1
    n_classes = max(n_classes, 3)
    names = [f"c{i}" for i in range(n_classes)]
    scores = np.full((len(y_true), n_classes), 0.1 / n_classes)
    scores[np.arange(len(y_true)), y_pred] += 0.9  # argmax is y_pred
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        evaluation = evaluate(y_true, scores, sample_weight=weights, class_names=names)
    got = evaluation.confused_pairs(k)
    expected = oracle(y_true, y_pred, weights, names, k)
    assert [(p.true, p.predicted) for p in got] == [(t, p) for t, p, _, _ in expected]
    for pair, (_, _, count, rate) in zip(got, expected, strict=True):
        assert isinstance(pair, ConfusedPair)
        assert pair.count == pytest.approx(count)
        assert pair.rate == pytest.approx(rate)


def test_binary_pairs_are_the_two_kinds_of_error():
    y = np.array([0, 0, 0, 1, 1, 1, 1])
    scores = np.array([0.9, 0.8, 0.2, 0.1, 0.4, 0.7, 0.9])
    pairs = evaluate(y, scores, class_names=["neg", "pos"]).confused_pairs()
    assert pairs == (ConfusedPair("neg", "pos", 2.0, 2 / 3), ConfusedPair("pos", "neg", 2.0, 0.5))


def test_multilabel_and_undefined_have_no_pairs():
    assert multilabel(5).confused_pairs() == ()
    assert undefined_evaluation().confused_pairs() == ()


@pytest.mark.parametrize("k", [0, -1, 2.5, True, "3"])
def test_k_must_be_a_positive_integer(k):
    with pytest.raises(ValueError, match="Received: k="):
        multilabel(3).confused_pairs(k)
