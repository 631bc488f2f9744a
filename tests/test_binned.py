"""`evaluate_binned`: counts from a tally give scikit-learn's threshold metrics exactly, and a
ROC AUC within its certified bound (NumPy only, against scikit-learn)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.special import logit
from sklearn import metrics
from sklearn_oracle import WEIGHT_VALUES

from epoch_eval.metrics.binned import BinnedCounts, evaluate_binned, logit_bin_floors

LOGIT_RANGE = 16.0


def bin_of(scores: np.ndarray, bins: int) -> np.ndarray:
    """The tally's binning, in NumPy: evenly spaced logits, one open bin at each end."""
    width = 2 * LOGIT_RANGE / (bins - 2)
    z = np.clip(logit(scores.astype(np.float64)), -LOGIT_RANGE - 1, LOGIT_RANGE + 1)
    return np.clip(np.floor((z + LOGIT_RANGE) / width) + 1, 0, bins - 1).astype(int)


def tally_multiclass(labels, scores, weight, bins, average="macro") -> BinnedCounts:
    n, c = scores.shape
    w = np.ones(n) if weight is None else weight
    predicted = scores.argmax(axis=1)
    matrix = np.zeros((c, c))
    np.add.at(matrix, (labels, predicted), w)
    positives, negatives = np.zeros((c, bins)), np.zeros((c, bins))
    index = bin_of(scores, bins)
    for k in range(c):
        truth = labels == k
        np.add.at(positives[k], index[truth, k], w[truth])
        np.add.at(negatives[k], index[~truth, k], w[~truth])
    return BinnedCounts("multiclass", tuple(map(str, range(c))), 0.5, average, n, matrix, 0.0,
                        positives, negatives, logit_bin_floors(bins, LOGIT_RANGE))


@st.composite
def multiclass_data(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n = draw(st.integers(5, 300))
    c = draw(st.integers(3, 6))
    labels = rng.integers(0, c, n)
    logits = rng.normal(size=(n, c)) * draw(st.sampled_from([0.05, 1.0, 8.0]))
    logits[np.arange(n), labels] += draw(st.sampled_from([0.0, 1.0, 3.0]))
    scores = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    weight = rng.choice(WEIGHT_VALUES, size=n) if draw(st.booleans()) else None
    return labels, scores, weight, draw(st.sampled_from([8, 64, 512]))


@settings(max_examples=80, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(multiclass_data(), st.sampled_from(["macro", "micro", "weighted"]))
def test_counts_are_exact_and_auc_is_certified(data, average) -> None:
    labels, scores, weight, bins = data
    if weight is not None and not weight.any():
        return
    evaluation = evaluate_binned(tally_multiclass(labels, scores, weight, bins, average))
    c = scores.shape[1]
    predicted = scores.argmax(axis=1)
    kwargs = {"average": average, "zero_division": 0, "sample_weight": weight,
              "labels": list(range(c))}
    assert evaluation.f1 == pytest.approx(metrics.f1_score(labels, predicted, **kwargs),
                                          rel=1e-9, abs=1e-12)
    assert evaluation.precision == pytest.approx(
        metrics.precision_score(labels, predicted, **kwargs), rel=1e-9, abs=1e-12)
    assert evaluation.accuracy == pytest.approx(
        metrics.accuracy_score(labels, predicted, sample_weight=weight), rel=1e-9)
    np.testing.assert_allclose(evaluation.confusion_matrix, metrics.confusion_matrix(
        labels, predicted, labels=list(range(c)), sample_weight=weight), rtol=1e-9)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for k, curve in enumerate(evaluation.roc_curves):
            truth = labels == k
            w = np.ones(len(labels)) if weight is None else weight
            if w[truth].sum() == 0 or w[~truth].sum() == 0:
                assert np.isnan(curve.auc)
                continue
            exact = metrics.roc_auc_score(truth, scores[:, k], sample_weight=weight)
            assert abs(curve.auc - exact) <= curve.auc_error_bound + 1e-12
    assert evaluation.roc_auc_error_bound >= 0


def test_the_bound_is_tight_when_everything_shares_a_bin() -> None:
    """Every score in one bin: the binned AUC is 1/2 and the bound is 1/2, the largest error
    possible; the exact AUC (perfect ranking inside the bin) is 1, at distance exactly 1/2."""
    labels = np.array([0, 0, 1, 1, 2, 2])
    scores = np.array([[0.34, 0.33, 0.33], [0.34, 0.33, 0.33], [0.33, 0.34, 0.33],
                       [0.33, 0.34, 0.33], [0.33, 0.33, 0.34], [0.33, 0.33, 0.34]])
    evaluation = evaluate_binned(tally_multiclass(labels, scores, None, 8))
    assert evaluation.roc_auc == pytest.approx(0.5)
    assert evaluation.roc_auc_error_bound == pytest.approx(0.5)
    assert metrics.roc_auc_score(labels, scores, multi_class="ovr") == pytest.approx(1.0)
    assert evaluation.f1 == pytest.approx(1.0)


def test_curves_run_through_the_bin_edges() -> None:
    labels = np.array([0, 1, 1, 0, 1])
    scores = np.array([0.1, 0.9, 0.6, 0.4, 0.99])
    two_columns = np.c_[1 - scores, scores]
    counts = tally_multiclass(labels, two_columns, None, 64)
    evaluation = evaluate_binned(counts)
    curve = evaluation.roc_curves[1]
    floors = logit_bin_floors(64, LOGIT_RANGE)
    assert np.isinf(curve.thresholds[0])
    assert set(curve.thresholds[1:]) <= set(floors)
    assert curve.auc == pytest.approx(1.0) and curve.auc_error_bound == 0.0
