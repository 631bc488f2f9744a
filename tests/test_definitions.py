"""Each place where a value of `evaluate()` can differ from scikit-learn's, as the README's
"Definitions" section lists them: both sides are computed here, so that the README stays
true when either changes."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from scipy.special import expit
from sklearn import metrics
from sklearn_oracle import check_micro_roc

from epoch_eval import Evaluation, evaluate


def evaluate_quietly(*args, **kwargs) -> Evaluation:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return evaluate(*args, **kwargs)


def sklearn_quietly(function, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return function(*args, **kwargs)


@pytest.fixture
def class_2_absent():
    """Multiclass labels in which class 2 of 3 has no sample, and softmax scores."""
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 2, 40)
    scores = rng.dirichlet(np.ones(3), 40)
    return labels, scores


def test_class_without_positives_ap_is_nan_and_left_out_of_pr_auc(class_2_absent):
    labels, scores = class_2_absent
    result = evaluate_quietly(labels, scores)
    one_hot = np.eye(3)[labels]
    sklearn_aps = sklearn_quietly(metrics.average_precision_score, one_hot, scores,
                                  average=None)
    assert sklearn_aps[2] == 0.0  # scikit-learn: 0.0, pulling its macro mean down
    assert math.isnan(result.pr_curves[2].average_precision)
    assert result.pr_auc == pytest.approx(np.mean(sklearn_aps[:2]), rel=1e-12)
    assert result.pr_auc > sklearn_quietly(metrics.average_precision_score, one_hot, scores)


def test_class_without_positives_roc_auc_is_nan_and_left_out_of_the_mean(class_2_absent):
    labels, scores = class_2_absent
    result = evaluate_quietly(labels, scores)
    sklearn_macro = sklearn_quietly(metrics.roc_auc_score, labels, scores, multi_class="ovr",
                                    labels=[0, 1, 2])
    assert math.isnan(sklearn_macro)  # scikit-learn: the macro mean is nan
    assert math.isnan(result.roc_curves[2].auc)
    expected = np.mean([metrics.roc_auc_score(labels == k, scores[:, k]) for k in (0, 1)])
    assert result.roc_auc == pytest.approx(expected, rel=1e-12)


def test_binary_without_positives_ap_is_nan_where_sklearn_says_zero():
    y_true, y_score = [0, 0, 0], [0.2, 0.3, 0.4]
    assert sklearn_quietly(metrics.average_precision_score, y_true, y_score) == 0.0
    assert math.isnan(evaluate_quietly(y_true, y_score).pr_auc)


def test_binary_without_negatives_roc_auc_is_nan_as_in_sklearn():
    y_true, y_score = [1, 1, 1], [0.2, 0.3, 0.4]
    assert math.isnan(sklearn_quietly(metrics.roc_auc_score, y_true, y_score))
    result = evaluate_quietly(y_true, y_score)
    assert math.isnan(result.roc_auc)
    assert result.pr_auc == metrics.average_precision_score(y_true, y_score) == 1.0


def test_zero_weight_positives_count_as_no_positive():
    y_true, y_score = [0, 1, 0, 1], [0.1, 0.9, 0.3, 0.7]
    result = evaluate_quietly(y_true, y_score, sample_weight=[1.0, 0.0, 2.0, 0.0])
    assert math.isnan(result.pr_auc) and math.isnan(result.roc_auc)


@pytest.mark.parametrize("average", ["micro", "weighted"])
def test_roc_auc_and_pr_auc_are_macro_whatever_the_average(average):
    rng = np.random.default_rng(4)
    labels = rng.integers(0, 4, 200)
    scores = rng.dirichlet(np.ones(4), 200)
    result = evaluate(labels, scores, average=average)
    one_hot = np.eye(4)[labels]
    macro = metrics.roc_auc_score(labels, scores, multi_class="ovr", average="macro")
    assert result.roc_auc == pytest.approx(macro, rel=1e-12)
    assert result.pr_auc == pytest.approx(
        metrics.average_precision_score(one_hot, scores, average="macro"), rel=1e-12)
    other = metrics.roc_auc_score(one_hot, scores, average=average)
    assert result.roc_auc != pytest.approx(other, rel=1e-6)
    # F1, precision and recall do follow `average`
    assert result.f1 == pytest.approx(
        metrics.f1_score(labels, scores.argmax(axis=1), average=average), rel=1e-12)


def test_a_score_equal_to_the_threshold_in_its_own_dtype_is_positive():
    scores = np.array([0.8, 0.5, 0.9], dtype=np.float16)  # float16(0.8) == 0.7998
    assert float(scores[0]) < 0.8
    result = evaluate([1, 0, 1], scores, threshold=0.8)
    np.testing.assert_array_equal(result.confusion_matrix, [[1, 0], [0, 2]])
    # what NumPy says, and what comparing in float64 would say
    np.testing.assert_array_equal(scores >= 0.8, [True, False, True])
    np.testing.assert_array_equal(scores.astype(np.float64) >= 0.8, [False, False, True])


def test_logits_are_thresholded_as_probabilities():
    logits = np.array([-0.1, 0.1, 2.0])
    result = evaluate([0, 1, 1], logits, from_logits=True, threshold=0.55)
    expected = (expit(logits) >= 0.55).astype(int)  # [0, 0, 1]: not `logits >= 0.55`
    np.testing.assert_array_equal(expected, [0, 0, 1])
    assert result.recall == pytest.approx(metrics.recall_score([0, 1, 1], expected))
    assert result.roc_auc == pytest.approx(metrics.roc_auc_score([0, 1, 1], logits))


def test_zero_division_gives_zero_without_a_warning():
    y_true, y_score = [0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4]  # nothing predicted positive at 0.5
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = evaluate(y_true, y_score)
    predicted = [0, 0, 0, 0]
    assert result.precision == 0.0 == metrics.precision_score(y_true, predicted,
                                                              zero_division=0)
    assert result.f1 == 0.0 == metrics.f1_score(y_true, predicted, zero_division=0)


def test_multiclass_prediction_is_the_first_highest_score():
    scores = np.array([[0.4, 0.4, 0.2], [0.1, 0.45, 0.45]])
    result = evaluate_quietly([1, 2], scores)  # class 0 has no sample
    np.testing.assert_array_equal(result.confusion_matrix,
                                  [[0, 0, 0], [1, 0, 0], [0, 1, 0]])  # argmax: 0, then 1


def test_macro_roc_curve_auc_is_roc_auc_and_large_curves_use_a_fixed_grid():
    """scikit-learn's recipe averages on the union of every class's false positive rates (a
    grid that grows with the data), and the area under it differs slightly from the mean of
    the class AUCs. Ours uses that union while the class curves have at most 4,001 points
    together, 4,001 evenly spaced rates beyond, and is labelled with `roc_auc` itself."""
    rng = np.random.default_rng(5)
    labels = rng.integers(0, 3, 60)
    scores = rng.dirichlet(np.ones(3), 60)
    result = evaluate(labels, scores)
    assert result.roc_auc == pytest.approx(
        metrics.roc_auc_score(labels, scores, multi_class="ovr"), rel=1e-12)
    assert result.roc_macro is not None
    assert result.roc_macro.auc == result.roc_auc
    union = np.unique(np.concatenate([curve.fpr for curve in result.roc_curves]))
    np.testing.assert_array_equal(result.roc_macro.fpr, union)
    assert np.trapezoid(result.roc_macro.tpr, union) != pytest.approx(result.roc_auc, rel=1e-6)

    labels = rng.integers(0, 3, 6000)
    large = evaluate(labels, rng.dirichlet(np.ones(3), 6000))
    assert sum(len(curve.fpr) for curve in large.roc_curves) > 4001
    np.testing.assert_array_equal(large.roc_macro.fpr, np.linspace(0, 1, 4001))
    assert large.roc_macro.auc == large.roc_auc


def test_micro_roc_curve_beyond_8000_distinct_scores_is_sampled():
    """Up to 8,000 distinct pooled scores the micro curve is scikit-learn's `roc_curve` of the
    pooled scores; beyond, the points where a rate first reaches each multiple of 1/4000,
    with the exact AUC (`check_micro_roc` checks how close it stays)."""
    rng = np.random.default_rng(6)
    labels = rng.integers(0, 4, 5000)
    scores = rng.dirichlet(np.ones(4), 5000)
    result = evaluate(labels, scores)
    truth = np.eye(4)[labels].ravel()
    curve = metrics.roc_curve(truth, scores.ravel())
    every_point = metrics.roc_curve(truth, scores.ravel(), drop_intermediate=False)
    assert len(every_point[0]) > 8001 and len(result.roc_micro.fpr) <= 8003
    check_micro_roc(result.roc_micro, curve, every_point, 4000)
    small = evaluate(labels[:1000], scores[:1000])  # 4,000 pooled scores: the whole curve
    check_micro_roc(small.roc_micro, metrics.roc_curve(truth[:4000], scores[:1000].ravel()),
                    metrics.roc_curve(truth[:4000], scores[:1000].ravel(),
                                      drop_intermediate=False), 4000)


def test_roc_curves_leave_out_the_points_where_the_curve_runs_straight_on():
    """scikit-learn keeps the points between unequal collinear steps; ours are the same
    polyline, with the same AUC, without them."""
    # weights: a horizontal stretch of negatives weighing 1, 2 and 3
    truth, scores = np.array([1, 0, 0, 0, 1]), np.array([0.9, 0.8, 0.7, 0.6, 0.1])
    weight = np.array([1.0, 1.0, 2.0, 3.0, 1.0])
    theirs = metrics.roc_curve(truth, scores, sample_weight=weight)
    np.testing.assert_array_equal(theirs[2], [np.inf, 0.9, 0.8, 0.7, 0.6, 0.1])
    ours = evaluate(truth, scores, sample_weight=weight).roc_curves[0]
    np.testing.assert_array_equal(ours.thresholds, [np.inf, 0.9, 0.6, 0.1])
    np.testing.assert_array_equal(ours.fpr, [0, 0, 1, 1])
    np.testing.assert_array_equal(ours.tpr, [0, 0.5, 0.5, 1])
    assert ours.auc == metrics.roc_auc_score(truth, scores, sample_weight=weight) == 0.5
    # ties: diagonal steps of 1, 2 and 1 samples of each class, on one line
    truth = np.array([0, 1, 1, 0, 1, 0, 1, 1, 0, 0])
    scores = np.array([0.5, 0.5, 0.8, 0.2, 0.5, 0.8, 0.2, 0.9, 0.5, 0.1])
    fpr, tpr, _ = metrics.roc_curve(truth, scores)
    np.testing.assert_allclose(np.c_[fpr, tpr][2:4], [[0.2, 0.4], [0.6, 0.8]])
    ours = evaluate(truth, scores).roc_curves[0]
    np.testing.assert_allclose(np.c_[ours.fpr, ours.tpr], [[0, 0], [0, 0.2], [0.8, 1], [1, 1]])
    on_ours = np.interp(fpr[1:], ours.fpr[1:], ours.tpr[1:])  # past the vertical start
    np.testing.assert_allclose(on_ours, tpr[1:], rtol=1e-12)
    assert ours.auc == pytest.approx(metrics.roc_auc_score(truth, scores), rel=1e-12)
