"""Prediction churn between two epochs, against a direct count of the changed predictions."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from epoch_eval.metrics.churn import churn, predicted_labels, same_rows
from epoch_eval.metrics.targets import to_targets


def draw(rng: np.random.Generator, task: str, n: int, width: int):
    if task == "binary":
        return rng.integers(0, 2, n), rng.random(n)
    if task == "multiclass":
        return rng.integers(0, width, n), rng.dirichlet(np.ones(width), n)
    return rng.integers(0, 2, (n, width)), rng.random((n, width))


@settings(max_examples=60, deadline=None)
@given(task=st.sampled_from(["binary", "multiclass", "multilabel"]),
       n=st.integers(1, 60), width=st.integers(2, 5), weighted=st.booleans(),
       seed=st.integers(0, 2**32 - 1))
def test_churn_is_the_weighted_fraction_of_changed_predictions(task, n, width, weighted, seed):
    rng = np.random.default_rng(seed)
    y_true, before = draw(rng, task, n, width)
    _, after = draw(rng, task, n, width)
    weight = rng.random(n) + 0.01 if weighted else None
    old = to_targets(y_true, before, task=task, sample_weight=weight)
    new = to_targets(y_true, after, task=task, sample_weight=weight)
    # the predicted labels as scikit-learn users compute them
    if task == "multiclass":
        expected_old, expected_new = before.argmax(axis=1), after.argmax(axis=1)
    else:
        expected_old, expected_new = before >= 0.5, after >= 0.5
    np.testing.assert_array_equal(predicted_labels(old), expected_old)
    changed = (expected_old != expected_new).astype(float)
    per_row = changed.mean(axis=1) if task == "multilabel" else changed  # pairs count
    expected = np.average(per_row, weights=weight)
    assert churn(predicted_labels(old), predicted_labels(new), weight) == pytest.approx(
        expected, rel=1e-12, abs=1e-15)
    assert churn(predicted_labels(old), predicted_labels(old), weight) == 0.0
    assert same_rows(old, new)


def test_rows_in_another_order_are_not_the_same_rows():
    rng = np.random.default_rng(0)
    y_true, scores = draw(rng, "multiclass", 50, 4)
    order = rng.permutation(50)
    first = to_targets(y_true, scores)
    assert not same_rows(first, to_targets(y_true[order], scores[order]))
    assert not same_rows(first, to_targets(y_true, scores, sample_weight=np.ones(50)))
    assert not same_rows(first, to_targets(y_true[:40], scores[:40]))


def test_zero_weights_give_nan():
    assert np.isnan(churn(np.array([0, 1]), np.array([1, 1]), np.zeros(2)))
