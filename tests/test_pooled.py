"""The micro average summed from the classes' rankings (`epoch_eval.metrics.pooled`) is the
curve of one sort of the pooled scores: the same points, thresholds and AUC, bit for bit
without weights and with dyadic ones."""

from __future__ import annotations

import importlib

import numpy as np
import pytest
from sklearn_oracle import WEIGHT_VALUES

from epoch_eval.metrics import curves, pooled
from epoch_eval.metrics.pooled import PooledCounts
from epoch_eval.metrics.targets import to_targets

evaluate_module = importlib.import_module("epoch_eval.metrics.evaluate")


def pooled_sort_and_sum(task: str, y_true: np.ndarray, scores: np.ndarray,
                        weight: np.ndarray | None):
    """The micro ROC curve from one pooled sort, and from the classes' rankings."""
    targets = to_targets(y_true, scores, task=task, sample_weight=weight)
    truth = evaluate_module._pooled_truth(targets)
    assert PooledCounts.plan(truth, targets.scores, weight) is not None  # the summed way
    if weight is None:
        one_sort = curves.pooled_roc_curve(
            curves.count_ranks(targets.scores, targets.scores[truth]), "micro")
    else:
        one_sort = curves.weighted_pooled_roc_curve(truth, targets.scores, weight, "micro")
    summed = evaluate_module._ranking_curves(targets)[0]
    return one_sort, summed


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("weighted", [False, True])
def test_summed_micro_curve_is_the_pooled_sorts(monkeypatch, dtype, ties, weighted) -> None:
    """Counts, and dyadic weights (some 0), sum exactly in any order: every value is equal,
    with ties within and across classes, -0.0 beside 0.0 and negative scores (a curve of 100
    samples, so that float16's and the rounded scores' few distinct values are enough)."""
    monkeypatch.setattr(curves, "CURVE_SAMPLES", 100)
    monkeypatch.setattr(pooled, "MIN_CLASSES", 2)
    rng = np.random.default_rng(21)
    n, n_classes = 6000, 7
    labels = rng.integers(0, n_classes, n)
    scores = rng.normal(size=(n, n_classes))
    scores[np.arange(n), labels] += 1.0
    if ties:
        scores = np.round(scores, 2)
        scores[rng.random((n, n_classes)) < 0.05] = -0.0
    weight = rng.choice(WEIGHT_VALUES, size=n) if weighted else None
    one_sort, summed = pooled_sort_and_sum("multiclass", labels, scores.astype(dtype), weight)
    assert summed.auc == one_sort.auc
    for name in ("fpr", "tpr", "thresholds"):
        np.testing.assert_array_equal(getattr(summed, name), getattr(one_sort, name), name)


def test_sparse_multilabel_is_summed_too(monkeypatch) -> None:
    """At most one positive per row on average: the summed way, the same curve."""
    monkeypatch.setattr(curves, "CURVE_SAMPLES", 100)
    monkeypatch.setattr(pooled, "MIN_CLASSES", 2)
    rng = np.random.default_rng(22)
    n, n_labels = 5000, 6
    y_true = (rng.random((n, n_labels)) < 0.12).astype(int)
    scores = np.clip(0.3 * y_true + 0.7 * rng.random((n, n_labels)), 0, 1).astype(np.float32)
    weight = rng.choice(WEIGHT_VALUES[1:], size=n)
    one_sort, summed = pooled_sort_and_sum("multilabel", y_true, scores, weight)
    assert summed.auc == one_sort.auc
    np.testing.assert_array_equal(summed.fpr, one_sort.fpr)
    np.testing.assert_array_equal(summed.thresholds, one_sort.thresholds)


def test_plan_keeps_the_pooled_sort_where_it_is_the_better_way(monkeypatch) -> None:
    rng = np.random.default_rng(23)
    few_classes = np.eye(8, dtype=bool)[rng.integers(0, 8, 20_000)]
    assert PooledCounts.plan(few_classes, rng.random((20_000, 8)), None) is None
    monkeypatch.setattr(pooled, "MIN_CLASSES", 2)
    assert PooledCounts.plan(few_classes, rng.random((20_000, 8)), None) is not None
    weight = np.ones(3000)
    dense = rng.random((3000, 4)) < 0.5  # more positives than rows
    assert PooledCounts.plan(dense, rng.random((3000, 4)), weight) is None
    few = np.eye(4, dtype=bool)[rng.integers(0, 4, 3000)]
    tied = np.round(rng.random((3000, 4)), 2)  # a short curve: every point kept
    assert PooledCounts.plan(few, tied, weight) is None
    assert PooledCounts.plan(few, rng.random((3000, 4)), np.zeros(3000)) is None
