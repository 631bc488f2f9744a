"""The ranking core (`epoch_eval.metrics.curves`): one sort gives scikit-learn's curves."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn import metrics
from sklearn_oracle import WEIGHT_VALUES, assert_close, check_micro_roc, roc_turning_points

from epoch_eval import evaluate
from epoch_eval.metrics import curves


@st.composite
def ranked_data(draw):
    """Binary truth, scores with few or many distinct values, optional dyadic weights."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n = draw(st.integers(1, 400))
    distinct = draw(st.sampled_from([1, 2, 5, 50, None]))
    scores = rng.random(n) if distinct is None else rng.integers(0, distinct, n) / distinct
    if draw(st.booleans()):
        scores = scores.astype(np.float32)
    truth = rng.random(n) < draw(st.sampled_from([0.0, 0.05, 0.5, 0.95, 1.0]))
    weight = rng.choice(WEIGHT_VALUES, size=n) if draw(st.booleans()) else None
    return truth, scores, weight


@settings(max_examples=200, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(ranked_data())
def test_rank_gives_sklearn_curves(data) -> None:
    truth, scores, weight = data
    if weight is not None and not weight.any():
        return
    counts = curves.rank(truth, scores, weight)
    roc = curves.roc_curve(counts, "c")
    pr = curves.precision_recall_curve(counts, "c")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, fps, _, tps, thresholds = metrics.confusion_matrix_at_thresholds(
            truth, scores, sample_weight=weight)
        precision, recall, pr_thresholds = metrics.precision_recall_curve(
            truth, scores, sample_weight=weight, drop_intermediate=True)
        positives = truth.sum() if weight is None else weight[truth].sum()
        negatives = (~truth).sum() if weight is None else weight[~truth].sum()
        auc = (metrics.roc_auc_score(truth, scores, sample_weight=weight)
               if positives > 0 and negatives > 0 else np.nan)
        ap = (metrics.average_precision_score(truth, scores, sample_weight=weight)
              if positives > 0 else np.nan)
    if weight is not None and len(tps) > 2:
        # weighted counts leave out the points inside a run of scores without positives
        rises = np.diff(tps, prepend=0.0) != 0
        inside = ~rises[1:-1] & ~rises[2:]
        fps, tps, thresholds = (np.r_[v[:1], v[1:-1][~inside], v[-1:]]
                                for v in (fps, tps, thresholds))
    assert_close(counts.fps, fps, "fps")
    assert_close(counts.tps, tps, "tps")
    assert_close(counts.thresholds, thresholds, "thresholds")
    fpr, tpr, roc_thresholds = roc_turning_points(truth, scores, weight)
    assert counts.positives == pytest.approx(positives)
    assert counts.negatives == pytest.approx(negatives)
    assert_close(roc.fpr, fpr, "fpr")
    assert_close(roc.tpr, tpr, "tpr")
    assert_close(roc.thresholds, roc_thresholds, "ROC thresholds")
    assert_close(roc.auc, auc, "AUC")
    assert_close(pr.precision, precision, "precision")
    assert_close(pr.recall, recall, "recall")
    assert_close(pr.thresholds, pr_thresholds, "PR thresholds")
    assert_close(pr.average_precision, ap, "average precision")
    total = positives + negatives
    assert_close(pr.prevalence, positives / total, "prevalence")


def test_rank_of_a_known_example() -> None:
    truth = np.array([False, False, True, True])
    scores = np.array([0.1, 0.4, 0.35, 0.8])
    counts = curves.rank(truth, scores, None)
    np.testing.assert_array_equal(counts.fps, [0, 1, 1, 2])
    np.testing.assert_array_equal(counts.tps, [1, 1, 2, 2])
    np.testing.assert_array_equal(counts.thresholds, [0.8, 0.4, 0.35, 0.1])
    roc = curves.roc_curve(counts, "x")
    assert roc.auc == 0.75
    assert roc.label == "x"
    pr = curves.precision_recall_curve(counts, "x")
    assert pr.average_precision == pytest.approx(0.8333333333333333)


def test_rank_merges_tied_scores_into_one_step() -> None:
    truth = np.array([True, False, True, False, True])
    scores = np.array([0.5, 0.5, 0.5, 0.2, 0.9])
    counts = curves.rank(truth, scores, None)
    np.testing.assert_array_equal(counts.thresholds, [0.9, 0.5, 0.2])
    np.testing.assert_array_equal(counts.tps, [1, 3, 3])
    np.testing.assert_array_equal(counts.fps, [0, 1, 2])


def test_rank_with_only_zero_weights_is_empty() -> None:
    counts = curves.rank(np.array([True, False]), np.array([0.3, 0.6]), np.zeros(2))
    assert len(counts.thresholds) == 0
    assert counts.positives == 0 and counts.negatives == 0
    roc = curves.roc_curve(counts, "c")
    assert np.isnan(roc.auc)
    pr = curves.precision_recall_curve(counts, "c")
    assert np.isnan(pr.average_precision) and np.isnan(pr.prevalence)


def test_macro_roc_curve_of_no_defined_class_is_nan() -> None:
    counts = curves.rank(np.array([True, True]), np.array([0.3, 0.6]), None)
    macro = curves.macro_roc_curve((curves.roc_curve(counts, "a"),))
    assert np.isnan(macro.auc) and macro.label == "macro"


def test_macro_roc_curve_of_short_curves_averages_on_the_union_of_fprs() -> None:
    a = curves.roc_curve(curves.rank(np.array([0, 1, 0, 1], bool),
                                     np.array([0.1, 0.9, 0.6, 0.4]), None), "a")
    b = curves.roc_curve(curves.rank(np.array([1, 0, 0], bool),
                                     np.array([0.8, 0.3, 0.2]), None), "b")
    macro = curves.macro_roc_curve((a, b))
    grid = np.unique(np.r_[a.fpr, b.fpr])
    np.testing.assert_array_equal(macro.fpr, grid)
    np.testing.assert_allclose(macro.tpr, (np.interp(grid, a.fpr, a.tpr)
                                           + np.interp(grid, b.fpr, b.tpr)) / 2, rtol=1e-15)
    assert macro.tpr[-1] == 1.0
    assert macro.auc == (a.auc + b.auc) / 2


@pytest.mark.parametrize("weighted", [False, True])
def test_macro_roc_curve_of_long_curves_stays_within_a_step_of_the_union_grid_mean(weighted):
    """The fixed grid loses nothing a chart could show: at every point of the union of the
    classes' rates (scikit-learn's grid), our curve lies between the exact mean one grid step
    before and one after (the exact mean only rises)."""
    rng = np.random.default_rng(11)
    rocs = []
    for k in range(4):
        truth = rng.random(10_000) < 0.2 + 0.1 * k
        score = np.round(rng.random(10_000) + 0.3 * truth, 4)
        weight = rng.uniform(0.5, 2.0, 10_000) if weighted else None
        rocs.append(curves.roc_curve(curves.rank(truth, score, weight), str(k)))
    macro = curves.macro_roc_curve(tuple(rocs))
    np.testing.assert_array_equal(macro.fpr, np.linspace(0, 1, curves.CURVE_SAMPLES + 1))
    union = np.unique(np.concatenate([roc.fpr for roc in rocs]))
    assert len(union) > len(macro.fpr)
    exact = sum(np.interp(union, roc.fpr, roc.tpr) for roc in rocs) / 4
    step = 1 / curves.CURVE_SAMPLES
    ours = np.interp(union, macro.fpr, macro.tpr)
    def exact_at(x):
        return sum(np.interp(np.clip(x, 0, 1), roc.fpr, roc.tpr) for roc in rocs) / 4

    assert np.all(ours >= exact_at(union - step) - 1e-12)
    assert np.all(ours <= exact_at(union + step) + 1e-12)
    assert macro.auc == pytest.approx(np.mean([roc.auc for roc in rocs]), rel=1e-15)
    assert abs(np.trapezoid(macro.tpr, macro.fpr) - np.trapezoid(exact, union)) < step


def test_micro_roc_curve_of_a_large_set_is_sampled_with_its_exact_auc() -> None:
    rng = np.random.default_rng(2)
    n, n_classes = 30_000, 3
    labels = rng.integers(0, n_classes, n)
    scores = rng.dirichlet(np.ones(n_classes), n).astype(np.float32)
    scores[np.arange(n), labels] += 0.2
    for weight in (None, rng.uniform(0.5, 2.0, n)):
        result = evaluate(labels, scores, sample_weight=weight)
        truth = np.eye(n_classes, dtype=bool)[labels].ravel()
        pooled_weight = None if weight is None else np.repeat(weight, n_classes)
        every_point = metrics.roc_curve(truth, scores.ravel(), sample_weight=pooled_weight,
                                        drop_intermediate=False)
        assert len(every_point[0]) > 2 * curves.CURVE_SAMPLES + 1
        check_micro_roc(result.roc_micro, None, every_point, curves.CURVE_SAMPLES)


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2**32 - 1), st.integers(2, 30), st.booleans(), st.booleans())
def test_micro_roc_with_many_classes_and_ties(seed, n_classes, tied, weighted) -> None:
    """Many pooled scores share a value across classes; the micro curve still matches."""
    rng = np.random.default_rng(seed)
    n = 200
    labels = rng.integers(0, n_classes, n)
    scores = rng.random((n, n_classes))
    if tied:
        scores = np.round(scores, 1)
    weight = rng.choice(WEIGHT_VALUES[1:], size=n) if weighted else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = evaluate(labels, scores, task="multiclass", sample_weight=weight)
    one_hot = np.eye(n_classes, dtype=bool)[labels]
    pooled_weight = None if weight is None else np.repeat(weight, n_classes)
    fpr, tpr, thresholds = roc_turning_points(one_hot.ravel(), scores.ravel(), pooled_weight)
    assert_close(result.roc_micro.fpr, fpr, "micro fpr")
    assert_close(result.roc_micro.tpr, tpr, "micro tpr")
    assert_close(result.roc_micro.thresholds, thresholds, "micro thresholds")
    assert_close(result.roc_micro.auc, metrics.auc(fpr, tpr), "micro AUC")


def test_curves_from_float32_scores_keep_float32_ties() -> None:
    """Scores that differ in float64 but not in float32 must tie, as scikit-learn ties them."""
    truth = np.array([True, False, True, False])
    scores = np.array([0.1, 0.1 + 1e-10, 0.5, 0.2], dtype=np.float32)
    result = evaluate(truth.astype(int), scores)
    fpr, tpr, thresholds = roc_turning_points(truth, scores, None)
    assert_close(result.roc_curves[0].fpr, fpr, "fpr")
    assert_close(result.roc_curves[0].tpr, tpr, "tpr")
    assert_close(result.roc_curves[0].thresholds, thresholds, "thresholds")


def test_count_ranks_of_nothing_is_empty() -> None:
    counts = curves.count_ranks(np.zeros(0), np.zeros(0))
    assert len(counts.fps) == len(counts.tps) == len(counts.thresholds) == 0
    assert counts.positives == 0 and counts.negatives == 0


def test_counts_without_weights_equal_counts_with_unit_weights() -> None:
    rng = np.random.default_rng(5)
    truth = rng.random(1000) < 0.3
    scores = np.round(rng.random(1000), 2)
    unweighted = curves.rank(truth, scores, None)
    weighted = curves.rank(truth, scores, np.ones(1000))
    np.testing.assert_array_equal(unweighted.fps, weighted.fps)
    np.testing.assert_array_equal(unweighted.tps, weighted.tps)
    np.testing.assert_array_equal(unweighted.thresholds, weighted.thresholds)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("distinct", [None, 500, 2])
def test_micro_roc_curve_in_small_chunks(monkeypatch, weighted, distinct) -> None:
    """The pooled counts are reduced a chunk at a time (chunks of whole runs of ties, with
    weights); with chunks of 37 and 50 samples, runs of ties across chunks (2 distinct
    scores: runs of 6,000, longer than the search window for a run's end) and both the
    exact and the sampled curve, the result is still scikit-learn's."""
    monkeypatch.setattr(curves, "_CHUNK", 37)
    monkeypatch.setattr(curves, "CURVE_SAMPLES", 50)
    rng = np.random.default_rng(7)
    n, n_classes = 3000, 4
    labels = rng.integers(0, n_classes, n)
    scores = rng.random((n, n_classes)).astype(np.float32)
    scores[np.arange(n), labels] += 0.3
    if distinct is not None:
        scores = np.round(scores * (distinct - 1) / 1.3) / (distinct - 1)
    weight = rng.choice(WEIGHT_VALUES[1:], size=n) if weighted else None
    result = evaluate(labels, scores, task="multiclass", sample_weight=weight)
    truth = np.eye(n_classes, dtype=bool)[labels].ravel()
    pooled_weight = None if weight is None else np.repeat(weight, n_classes)
    every_point = metrics.roc_curve(truth, scores.ravel(), sample_weight=pooled_weight,
                                    drop_intermediate=False)
    assert (len(every_point[0]) - 1 > 100) == (distinct != 2)
    check_micro_roc(result.roc_micro, roc_turning_points(truth, scores.ravel(), pooled_weight),
                    every_point, 50)
