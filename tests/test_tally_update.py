"""`Tally.update_state` on random batches, run eagerly on the current Keras backend: its counts
give scikit-learn's confusion matrix exactly and a ROC AUC within the certified bound, for every
task, label format, scores or logits, with and without weights, over several batches."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.special import expit, logit, softmax
from sklearn import metrics
from sklearn_oracle import WEIGHT_VALUES

from epoch_eval import Tally
from epoch_eval.metrics.binned import evaluate_binned

TASKS = ("binary-1", "binary-2", "multiclass", "multiclass-one-hot", "multilabel")


@st.composite
def batches(draw):
    """A task, its labels and model outputs (probabilities or logits), optional weights."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    task = draw(st.sampled_from(TASKS))
    n = draw(st.integers(1, 200))
    c = 2 if task.startswith("binary") else draw(st.integers(3, 6))
    scale = draw(st.sampled_from([0.05, 1.0, 8.0]))  # squeezed, plain, overconfident
    logits = (rng.normal(size=(n, 1 if task == "binary-1" else c)) * scale).astype(np.float32)
    if draw(st.booleans()):  # ties
        logits = np.round(logits, 1)
    if task == "multilabel":
        labels = (logits + rng.normal(size=logits.shape) > 0).astype(np.float32)
    elif task == "binary-1":
        labels = (logits[:, 0] + rng.normal(size=n) > 0).astype(np.int64)
    else:
        labels = np.argmax(logits + rng.normal(size=logits.shape) * 2, axis=1)
    from_logits = draw(st.booleans())
    weight = rng.choice(WEIGHT_VALUES, size=n) if draw(st.booleans()) else None
    if weight is not None and not weight.any():
        weight[0] = 1.0  # scikit-learn refuses weights that are all 0
    split = draw(st.integers(0, n))  # two batches
    return task, labels, logits, from_logits, weight, split


def probabilities(task: str, logits: np.ndarray) -> np.ndarray:
    if task in ("binary-1", "multilabel"):
        return expit(logits.astype(np.float64))
    return softmax(logits.astype(np.float64), axis=1)


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(batches(), st.sampled_from([0.3, 0.5]), st.sampled_from([16, 512]))
def test_counts_match_sklearn_and_auc_is_certified(data, threshold, bins) -> None:
    task, labels, logits, from_logits, weight, split = data
    tally = Tally(task=task.split("-")[0], threshold=threshold, from_logits=from_logits,
                  bins=bins)
    outputs = logits if from_logits else probabilities(task, logits).astype(np.float32)
    y_true = labels
    if task == "multiclass-one-hot":
        y_true = np.eye(logits.shape[1], dtype=np.float32)[labels]
    for rows in (slice(0, split), slice(split, None)):
        if len(outputs[rows]):
            tally.update_state(y_true[rows], outputs[rows],
                               None if weight is None else weight[rows])
    assert tally.undefined_reason() is None
    evaluation = evaluate_binned(tally.counts())
    assert evaluation.n_samples == (len(labels) if weight is None else np.count_nonzero(weight))

    scores = probabilities(task, logits)
    if task == "multilabel":
        predicted = (logits >= logit(threshold)) if from_logits else (
            outputs >= np.float32(threshold))
        expected = metrics.multilabel_confusion_matrix(labels, predicted, sample_weight=weight)
    else:
        if task.startswith("binary"):
            positive = (logits[:, 0] if task == "binary-1" else logits[:, 1] - logits[:, 0]
                        ) if from_logits else outputs[:, -1]
            cut = logit(threshold) if from_logits else np.float32(threshold)
            predicted = (positive >= cut).astype(int)
        else:
            predicted = np.argmax(outputs, axis=1)
        classes = np.arange(2 if task.startswith("binary") else logits.shape[1])
        expected = metrics.confusion_matrix(labels, predicted, labels=classes,
                                            sample_weight=weight)
    np.testing.assert_allclose(evaluation.confusion_matrix, expected, rtol=1e-9, atol=1e-9)

    for k, curve in enumerate(evaluation.roc_curves):
        column = scores[:, -1] if task.startswith("binary") else scores[:, k]
        truth = labels == 1 if task.startswith("binary") else (
            labels[:, k] == 1 if task == "multilabel" else labels == k)
        kept = slice(None) if weight is None else weight > 0
        if len(np.unique(truth[kept])) < 2:
            assert np.isnan(curve.auc)
            continue
        exact = metrics.roc_auc_score(truth, column, sample_weight=weight)
        assert abs(curve.auc - exact) <= curve.auc_error_bound + 1e-9


@pytest.mark.parametrize("bad", [-1, 3])
def test_labels_out_of_range_are_reported_not_counted(bad) -> None:
    tally = Tally()
    scores = np.full((4, 3), 1 / 3, dtype=np.float32)
    tally.update_state(np.array([0, 1, bad, 2]), scores)
    reason = tally.undefined_reason()
    assert reason is not None and "outside 0..2" in reason
    counts = tally.counts()
    assert counts.confusion_matrix.sum() == 3  # the three valid rows
    assert counts.positives.sum() == 3 and counts.negatives.sum() == 6
    assert counts.n_samples == 4


def test_nonfinite_scores_are_counted_apart() -> None:
    tally = Tally()
    tally.update_state(np.array([0, 1, 1]), np.array([0.8, np.nan, np.inf], dtype=np.float32))
    assert "predicted 2 NaN or infinite" in tally.undefined_reason()
    counts = tally.counts()
    assert counts.positives.sum() + counts.negatives.sum() == 1  # only the finite score


def test_a_paused_tally_neither_counts_nor_reports() -> None:
    tally = Tally()
    tally.update_state(np.array([0, 1]), np.array([0.2, 0.9], dtype=np.float32))
    with tally.pause():
        tally.update_state(np.array([1, 1]), np.array([0.2, 0.9], dtype=np.float32))
        assert tally.result() == {}
    assert tally.counts().n_samples == 2
    assert set(tally.result()) == {"f1", "precision", "recall", "roc_auc"}
    assert keras.ops.convert_to_numpy(tally.result()["f1"]) == pytest.approx(1.0)


def test_weights_that_float32_cannot_hold_are_summed_exactly() -> None:
    """float64 weights are counted in float64 on every backend (Keras' own torch segment_sum
    would add them in float32)."""
    if keras.backend.backend() == "jax":
        import jax

        if not jax.config.jax_enable_x64:
            pytest.skip("JAX without x64 counts in float32, as the README says")
    rng = np.random.default_rng(4)
    labels = rng.integers(0, 3, 500)
    scores = rng.dirichlet(np.ones(3), 500).astype(np.float32)
    weight = rng.uniform(0.1, 1.0, 500) / 3  # no float32 holds these
    tally = Tally()
    tally.update_state(labels, scores, weight)
    expected = metrics.confusion_matrix(labels, scores.argmax(axis=1), sample_weight=weight)
    np.testing.assert_allclose(tally.counts().confusion_matrix, expected, rtol=1e-12)
    positives = tally.counts().positives.sum(axis=1)
    np.testing.assert_allclose(positives, [weight[labels == k].sum() for k in range(3)],
                               rtol=1e-12)


def test_rows_of_weight_zero_are_not_counted_as_rows() -> None:
    """`epoch_eval.shard` pads shares with rows of weight 0: they add nothing, not even a row."""
    tally = Tally()
    tally.update_state(np.array([0, 1, 1]), np.array([0.2, 0.9, 0.4], dtype=np.float32),
                       np.array([1.0, 2.0, 0.0]))
    counts = tally.counts()
    assert counts.n_samples == 2
    assert counts.confusion_matrix.sum() == 3.0  # the weights of the two rows
