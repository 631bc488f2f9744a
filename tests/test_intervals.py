"""`evaluate(confidence=)` and `evaluate_binned(confidence=)`: the intervals' properties, the
influences they come from, and the paired and unpaired gains (their coverage is in
test_interval_coverage.py)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.special import expit, ndtri
from sklearn_oracle import cases
from test_binned import tally_multiclass

from epoch_eval import evaluate
from epoch_eval.metrics import SCALAR_NAMES
from epoch_eval.metrics.binned import evaluate_binned
from epoch_eval.metrics.influence import exact_rank_rows
from epoch_eval.metrics.intervals import (
    interval,
    paired_gain,
    row_influences,
    unpaired_gain,
)
from epoch_eval.metrics.targets import to_targets

PER_CLASS = ("precision", "recall", "f1")


def quiet_evaluate(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # classes without positives in small random cases
        return evaluate(*args, **kwargs)


def multiclass_data(n: int, seed: int = 0, classes: int = 4, shift=1.5):
    """Labels and float32 softmax scores, the true class's logit raised by `shift` (one
    value, or one per class)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n)
    logits = rng.normal(size=(n, classes))
    logits[np.arange(n), labels] += np.broadcast_to(shift, (classes,))[labels]
    scores = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return labels, scores.astype(np.float32)


def assert_brackets(low: float, value: float, high: float, what: str) -> None:
    if np.isnan(value):
        assert np.isnan(low) and np.isnan(high), what
    else:
        assert 0.0 <= low <= value <= high <= 1.0, f"{what}: {low} {value} {high}"


@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(["binary", "multiclass", "multilabel"]).flatmap(cases),
       st.sampled_from([0.5, 0.9, 0.95]))
def test_each_interval_brackets_its_value(case, confidence) -> None:
    result = quiet_evaluate(case.y_true, case.y_score, **case.kwargs, confidence=confidence)
    assert result.confidence == confidence
    assert result.intervals is not None and result.per_class_intervals is not None
    assert set(result.intervals) == set(SCALAR_NAMES)
    for name in SCALAR_NAMES:
        low, high = result.intervals[name]
        assert type(low) is float and type(high) is float
        assert_brackets(low, getattr(result, name), high, name)
    assert set(result.per_class_intervals) == set(PER_CLASS)
    for name in PER_CLASS:
        bounds = result.per_class_intervals[name]
        values = getattr(result.per_class, name)
        assert bounds.shape == (len(result.per_class.names), 2)
        assert not bounds.flags.writeable
        for k, value in enumerate(values):
            assert_brackets(bounds[k, 0], value, bounds[k, 1], f"{name}[{k}]")


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(["binary", "multiclass", "multilabel"]).flatmap(cases))
def test_values_are_those_without_intervals(case) -> None:
    plain = quiet_evaluate(case.y_true, case.y_score, **case.kwargs)
    with_intervals = quiet_evaluate(case.y_true, case.y_score, **case.kwargs, confidence=0.9)
    np.testing.assert_equal(plain.scalars(), with_intervals.scalars())
    assert plain.intervals is None and plain.confidence is None
    assert plain.standard_errors is None


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(["binary", "multiclass", "multilabel"]).flatmap(cases))
def test_standard_errors_are_those_of_each_rows_exact_influence(case) -> None:
    """The fast path (cells, points of the ranking, influences read by score bucket) agrees
    with every row's exact influence, summed: exactly for the threshold metrics, to the
    bucket's resolution for the ranking metrics (with their small-sample factors)."""
    result = quiet_evaluate(case.y_true, case.y_score, **case.kwargs, confidence=0.95)
    targets = to_targets(case.y_true, case.y_score,
                         **{k: v for k, v in case.kwargs.items() if k != "class_names"})
    w = np.ones(len(targets.labels)) if targets.sample_weight is None \
        else targets.sample_weight
    assert result.standard_errors is not None
    for name in ("f1", "precision", "recall", "accuracy"):
        value, rows = row_influences(targets, name)
        assert value == pytest.approx(getattr(result, name), abs=1e-12)
        assert result.standard_errors[name] == pytest.approx(
            np.sqrt(np.sum((w * rows) ** 2)), rel=1e-9, abs=1e-12), name
    columns = [(targets.labels == 1, targets.scores)] if targets.task == "binary" else [
        (targets.labels[:, k] if targets.task == "multilabel" else targets.labels == k,
         targets.scores[:, k]) for k in range(targets.n_classes)]
    summed, defined = np.zeros((len(w), 2)), np.zeros(2)
    for truth, score in columns:
        influence, rows = exact_rank_rows(truth, score, targets.sample_weight)
        scale = np.where(truth, influence.scales[1], influence.scales[0])[:, None]
        known = ~np.isnan(influence.values)
        summed += rows * scale * known
        defined += known
    for j, name in enumerate(("roc_auc", "pr_auc")):
        if defined[j] == 0:
            assert np.isnan(result.standard_errors[name])
            continue
        exact = np.sqrt(np.sum((w * summed[:, j]) ** 2)) / defined[j]
        assert result.standard_errors[name] == pytest.approx(exact, rel=0.02, abs=1e-6), name


@pytest.mark.parametrize(("task", "average"), [
    ("binary", "binary"), ("binary", "weighted"), ("multiclass", "macro"),
    ("multiclass", "micro"), ("multiclass", "weighted"), ("multilabel", "macro"),
    ("multilabel", "micro"), ("multilabel", "weighted")])
def test_influences_are_derivatives_by_the_row_weights(task, average) -> None:
    """Each row's influence is the change of the metric per unit of that row's weight (ties
    in the scores included)."""
    rng = np.random.default_rng(1)
    n = 120
    if task == "binary":
        labels, scores = rng.integers(0, 2, n), np.round(rng.random(n), 2)
    elif task == "multiclass":
        labels, scores = rng.integers(0, 4, n), np.round(rng.dirichlet(np.ones(4), n), 2)
    else:
        labels, scores = (rng.random((n, 3)) < 0.4).astype(int), np.round(rng.random((n, 3)), 2)
    weight = rng.uniform(0.5, 2.0, n)
    targets = to_targets(labels, scores, task=task, average=average, sample_weight=weight)
    step = 1e-6
    for name in SCALAR_NAMES:
        value, rows = row_influences(targets, name)
        for i in rng.choice(n, 4, replace=False):
            moved = weight.copy()
            moved[i] += step
            after = getattr(evaluate(labels, scores, task=task, average=average,
                                     sample_weight=moved), name)
            assert (after - value) / step == pytest.approx(rows[i], abs=1e-6), (name, i)


def test_nan_values_have_nan_intervals() -> None:
    with pytest.warns(UserWarning, match="undefined"):
        result = evaluate([0, 0, 0, 0], [0.1, 0.6, 0.3, 0.2], confidence=0.95)
    assert result.intervals is not None
    assert np.isnan(result.roc_auc) and np.isnan(result.pr_auc)
    for name in ("roc_auc", "pr_auc"):
        assert all(np.isnan(result.intervals[name]))
    assert_brackets(*result.intervals["accuracy"][:1], result.accuracy,
                    result.intervals["accuracy"][1], "accuracy")


def test_intervals_are_reproducible() -> None:
    labels, scores = multiclass_data(3000)
    first = evaluate(labels, scores, confidence=0.95)
    second = evaluate(labels, scores, confidence=0.95)
    assert first.intervals == second.intervals
    for name in PER_CLASS:
        np.testing.assert_array_equal(first.per_class_intervals[name],
                                      second.per_class_intervals[name])


def test_weights_change_the_intervals_and_a_common_factor_does_not() -> None:
    labels, scores = multiclass_data(2000)
    weight = np.random.default_rng(2).uniform(0.2, 3.0, len(labels))
    plain = evaluate(labels, scores, confidence=0.95)
    doubled = evaluate(labels, scores, sample_weight=np.full(len(labels), 2.0),
                       confidence=0.95)
    weighted = evaluate(labels, scores, sample_weight=weight, confidence=0.95)
    for name in SCALAR_NAMES:
        assert doubled.intervals[name] == pytest.approx(plain.intervals[name], rel=1e-9)
        width = np.diff(weighted.intervals[name])[0]
        assert width > np.diff(plain.intervals[name])[0], name  # fewer effective rows


def test_per_class_intervals_follow_the_classes() -> None:
    """Class k's intervals are those of class k against the rest, as a binary task."""
    labels, scores = multiclass_data(3000, classes=3, shift=[0.5, 2.0, 4.0])
    result = evaluate(labels, scores, confidence=0.95, class_names=["a", "b", "c"])
    assert result.per_class.names == ("a", "b", "c")
    predicted = scores.argmax(axis=1)
    for k in range(3):
        alone = evaluate(labels == k, (predicted == k).astype(float), confidence=0.95)
        for name in PER_CLASS:
            np.testing.assert_allclose(result.per_class_intervals[name][k],
                                       alone.intervals[name], rtol=1e-12, err_msg=name)


def test_binary_lists_both_classes() -> None:
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 2, 400)
    scores = expit(rng.normal(size=400) + 2.0 * labels - 1.0)
    result = evaluate(labels, scores, confidence=0.95)
    for name in PER_CLASS:
        assert result.per_class_intervals[name].shape == (2, 2)
    # average="binary": the scalar is class 1's, with class 1's interval
    np.testing.assert_allclose(result.intervals["f1"], result.per_class_intervals["f1"][1])


@pytest.mark.parametrize("confidence", [0, 1, 1.5, -0.2, float("nan"), "0.9", True])
def test_confidence_outside_zero_one_is_refused(confidence) -> None:
    with pytest.raises(ValueError, match=r"Invalid `confidence` argument value\. It should "
                                         r"verify 0 < confidence < 1\. Received: confidence="):
        evaluate([0, 1, 1, 0], [0.2, 0.9, 0.4, 0.6], confidence=confidence)


def test_binned_confidence_is_checked() -> None:
    labels, scores = multiclass_data(100)
    with pytest.raises(ValueError, match=r"Received: confidence=2"):
        evaluate_binned(tally_multiclass(labels, scores, None, 64), confidence=2)


def test_higher_confidence_gives_wider_intervals() -> None:
    labels, scores = multiclass_data(2000)
    narrow = evaluate(labels, scores, confidence=0.9)
    wide = evaluate(labels, scores, confidence=0.99)
    for name in SCALAR_NAMES:
        (low_n, high_n), (low_w, high_w) = narrow.intervals[name], wide.intervals[name]
        assert low_w < low_n and high_n < high_w, name


def test_a_perfect_recall_still_has_an_interval() -> None:
    """At 1 the influences vanish; the interval is Wilson's over the true rows."""
    rng = np.random.default_rng(4)
    labels = np.r_[np.ones(150, int), np.zeros(350, int)]
    scores = np.where(labels == 1, rng.uniform(0.6, 1.0, 500), rng.uniform(0.0, 0.7, 500))
    result = evaluate(labels, scores, confidence=0.95)
    assert result.recall == 1.0
    z2 = ndtri(0.975) ** 2
    assert result.intervals["recall"] == pytest.approx((150 / (150 + z2), 1.0))


def test_interval_on_the_logit_scale() -> None:
    z = ndtri(0.975)
    low, high = interval(0.9, 0.01, 0.95)
    logit = np.log(9.0)
    half = z * 0.01 / 0.09
    assert (low, high) == pytest.approx((expit(logit - half), expit(logit + half)))
    assert high - 0.9 < 0.9 - low  # squeezed towards the nearer end
    assert all(np.isnan(interval(float("nan"), 0.01, 0.95)))


@pytest.mark.parametrize("weighted", [False, True])
def test_tally_intervals_are_close_to_predict_modes(weighted) -> None:
    labels, scores = multiclass_data(5000, classes=5)
    weight = np.random.default_rng(5).uniform(0.5, 2.0, 5000) if weighted else None
    exact = evaluate(labels, scores, sample_weight=weight, confidence=0.95)
    binned = evaluate_binned(tally_multiclass(labels, scores, weight, 8192), confidence=0.95)
    assert binned.confidence == 0.95
    for name in SCALAR_NAMES:
        np.testing.assert_allclose(binned.intervals[name], exact.intervals[name], atol=0.01,
                                   err_msg=name)
    for name in PER_CLASS:
        np.testing.assert_allclose(binned.per_class_intervals[name],
                                   exact.per_class_intervals[name], atol=0.01, err_msg=name)
    if not weighted:  # the threshold metrics' counts are the same cells: the same intervals
        for name in ("f1", "precision", "recall", "accuracy"):
            assert binned.intervals[name] == pytest.approx(exact.intervals[name], rel=1e-9)


def test_tally_without_confidence_has_no_intervals() -> None:
    labels, scores = multiclass_data(200)
    binned = evaluate_binned(tally_multiclass(labels, scores, None, 64))
    assert binned.intervals is None and binned.standard_errors is None


# --- gains between two evaluations ---------------------------------------------------------


def binary_scores(rng: np.random.Generator, labels: np.ndarray, shift: float) -> np.ndarray:
    return expit(rng.normal(size=len(labels)) + shift * labels - shift / 2)


def test_a_clearly_better_model_gains_significantly() -> None:
    rng = np.random.default_rng(6)
    labels = rng.integers(0, 2, 2000)
    best = to_targets(labels, binary_scores(rng, labels, 1.0))
    new = to_targets(labels, binary_scores(rng, labels, 2.0))
    for metric in SCALAR_NAMES:
        gain = paired_gain(metric, new, best, confidence=0.95)
        assert gain.gain > 0 and gain.significant, metric
        assert gain.lower_bound == pytest.approx(gain.gain - ndtri(0.95) * gain.standard_error)


def test_the_same_scores_gain_nothing() -> None:
    rng = np.random.default_rng(7)
    labels = rng.integers(0, 2, 500)
    scores = binary_scores(rng, labels, 1.0)
    targets = to_targets(labels, scores)
    for metric in SCALAR_NAMES:
        gain = paired_gain(metric, targets, to_targets(labels, scores.copy()))
        assert gain.gain == 0 and gain.standard_error == 0 and not gain.significant


@pytest.mark.parametrize(("task", "metric"), [
    ("binary", "f1"), ("binary", "roc_auc"), ("binary", "pr_auc"),
    ("multiclass", "accuracy"), ("multiclass", "roc_auc"), ("multiclass", "f1")])
def test_paired_gains_of_noise_are_rarely_significant(task, metric) -> None:
    """Two epochs equally good (independent noise around the same scorer): a gain is called
    significant in about 1 - confidence of the draws."""
    rng = np.random.default_rng(8)
    draws, significant = 300, 0
    for _ in range(draws):
        if task == "binary":
            labels = rng.integers(0, 2, 400)
            base = rng.normal(size=400) + 1.5 * labels
            scores = [expit(base + rng.normal(scale=0.5, size=400)) for _ in range(2)]
        else:
            labels = rng.integers(0, 3, 400)
            base = rng.normal(size=(400, 3))
            base[np.arange(400), labels] += 1.5
            scores = [np.exp(s) / np.exp(s).sum(axis=1, keepdims=True) for s in
                      (base + rng.normal(scale=0.5, size=(400, 3)) for _ in range(2))]
        gain = paired_gain(metric, to_targets(labels, scores[0]),
                           to_targets(labels, scores[1]), confidence=0.95)
        significant += gain.significant
    assert significant / draws <= 0.05 + 0.03


def test_paired_gain_is_tighter_than_unpaired() -> None:
    rng = np.random.default_rng(9)
    labels = rng.integers(0, 2, 3000)
    base = rng.normal(size=3000) + 1.5 * labels
    best_scores = expit(base)
    new_scores = expit(base + 0.3 * labels + rng.normal(scale=0.2, size=3000))
    paired = paired_gain("roc_auc", to_targets(labels, new_scores),
                         to_targets(labels, best_scores))
    unpaired = unpaired_gain(evaluate(labels, new_scores, confidence=0.95),
                             evaluate(labels, best_scores, confidence=0.95), "roc_auc")
    assert paired.gain == pytest.approx(unpaired.gain)
    assert paired.standard_error < 0.5 * unpaired.standard_error
    assert paired.significant


def test_gain_refusals() -> None:
    labels = np.array([0, 1, 1, 0])
    targets = to_targets(labels, [0.2, 0.9, 0.4, 0.6])
    with pytest.raises(ValueError, match=r"Expected one of .*Received: metric='auc'"):
        paired_gain("auc", targets, targets)
    with pytest.raises(ValueError, match="same rows in the same order"):
        paired_gain("f1", targets, to_targets([1, 1, 1, 0], [0.2, 0.9, 0.4, 0.6]))
    with pytest.raises(ValueError, match=r"Received: confidence=1"):
        paired_gain("f1", targets, targets, confidence=1)
    plain = evaluate(labels, [0.2, 0.9, 0.4, 0.6])
    with pytest.raises(ValueError, match="has no standard errors"):
        unpaired_gain(plain, plain, "f1")


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(["multiclass", "multilabel"]).flatmap(cases))
def test_held_buckets_give_the_dense_tables_sums_bit_for_bit(case) -> None:
    """Few rows read their buckets among the held ones (`searchsorted`), many rows from dense
    tables: the same sums to the last bit, whichever path `evaluate` takes."""
    from epoch_eval.metrics import intervals as intervals_module
    from epoch_eval.metrics.influence import (
        bucket_table,
        held_buckets,
        summed_squares,
        summed_squares_held,
    )

    captured = {}
    real = intervals_module._ranking_errors

    def capture(targets, influences):
        captured.update(targets=targets, influences=influences)
        return real(targets, influences)

    intervals_module._ranking_errors = capture
    try:
        quiet_evaluate(case.y_true, case.y_score, **case.kwargs, confidence=0.95)
    finally:
        intervals_module._ranking_errors = real
    targets, influences = captured["targets"], captured["influences"]
    defined = np.array([~np.isnan(i.values) for i in influences]).reshape(-1, 2)
    tables = [(lowest, table * mask) for (lowest, table), mask
              in zip(map(bucket_table, influences), defined, strict=True)]
    dense = summed_squares(targets.scores, targets.labels, tables, targets.sample_weight)
    held = summed_squares_held(targets.scores, targets.labels,
                               held_buckets(influences, defined), targets.sample_weight)
    assert np.array_equal(dense, held), (dense, held)
    assert (dense > 0).any() or not defined.any() or len(targets.labels) < 3


def test_many_rows_take_the_dense_tables_and_few_rows_the_held_buckets(monkeypatch) -> None:
    from epoch_eval.metrics import intervals as intervals_module

    taken: list[str] = []
    for name in ("summed_squares", "summed_squares_held"):
        real = getattr(intervals_module, name)
        monkeypatch.setattr(intervals_module, name,
                            lambda *a, _real=real, _name=name, **k: (taken.append(_name),
                                                                    _real(*a, **k))[1])
    for n in (300, 60_000):
        labels, scores = multiclass_data(n, classes=10, shift=1.0)
        quiet_evaluate(labels, scores, confidence=0.95)
    assert taken == ["summed_squares_held", "summed_squares"]
