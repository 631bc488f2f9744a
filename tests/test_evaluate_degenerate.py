"""Degenerate data never raises: one class only, classes never predicted, equal scores, ties,
zero weights, a single sample. Also: the result is immutable and leaves the inputs alone."""

from __future__ import annotations

import dataclasses
import math
import re
import warnings

import numpy as np
import pytest
from sklearn import metrics
from sklearn_oracle import assert_close, roc_turning_points

from epoch_eval import Evaluation, evaluate

SCALARS = {"f1", "precision", "recall", "accuracy", "roc_auc", "pr_auc"}


def evaluate_quietly(*args, **kwargs) -> Evaluation:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return evaluate(*args, **kwargs)


def evaluate_warning(patterns: list[str], *args, **kwargs) -> Evaluation:
    """`evaluate()`, checking that it warns exactly once, with a message matching every
    pattern and naming no more metrics than the patterns do."""
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        result = evaluate(*args, **kwargs)
    messages = [str(w.message) for w in record]
    assert all(issubclass(w.category, UserWarning) for w in record), messages
    assert len(messages) == 1, messages
    for pattern in patterns:
        assert re.search(pattern, messages[0]), (pattern, messages)
    assert messages[0].count(" is undefined for ") == len(patterns), messages
    return result


# --- one class only ------------------------------------------------------------------------

def test_binary_with_negatives_only_warns_and_gives_nan_auc() -> None:
    y_true = [0, 0, 0, 0]
    y_score = [0.1, 0.6, 0.4, 0.8]
    result = evaluate_warning([r"roc_auc is undefined for 1 class.*\['dog'\].*it is nan",
                               r"pr_auc is undefined for 1 class.*\['dog'\].*it is nan"],
                              y_true, y_score, class_names=["cat", "dog"])
    assert math.isnan(result.roc_auc)
    assert math.isnan(result.pr_auc)
    assert math.isnan(result.roc_curves[0].auc)
    # the threshold metrics stay defined
    assert result.f1 == 0.0 and result.precision == 0.0 and result.recall == 0.0
    assert result.accuracy == 0.5
    np.testing.assert_array_equal(result.confusion_matrix, [[2, 2], [0, 0]])


def test_binary_with_positives_only() -> None:
    # AP is defined: only AUC warns
    result = evaluate_warning([r"roc_auc is undefined.*\['1'\]"], [1, 1, 1], [0.2, 0.7, 0.9])
    assert math.isnan(result.roc_auc)
    assert result.pr_auc == 1.0
    assert_close(result.f1, metrics.f1_score([1, 1, 1], [0, 1, 1]), "f1")
    assert result.accuracy == pytest.approx(2 / 3)


def test_multiclass_with_a_class_absent_from_y_true() -> None:
    rng = np.random.default_rng(3)
    y_true = np.array([0, 2, 2, 0, 2, 0, 0, 2])
    y_score = rng.dirichlet(np.ones(3), size=len(y_true))
    names = ["cat", "dog", "bird"]
    result = evaluate_warning([r"roc_auc is undefined for 1 class.*\['dog'\].*left out",
                               r"pr_auc is undefined for 1 class.*\['dog'\].*left out"],
                              y_true, y_score, class_names=names)
    per_class = [metrics.roc_auc_score(y_true == k, y_score[:, k]) for k in (0, 2)]
    assert math.isnan(result.roc_curves[1].auc)
    assert_close(result.roc_auc, np.mean(per_class), "macro AUC over the defined classes")
    aps = [metrics.average_precision_score(y_true == k, y_score[:, k]) for k in (0, 2)]
    assert_close(result.pr_auc, np.mean(aps), "macro AP over the defined classes")
    assert_close(result.f1, metrics.f1_score(y_true, y_score.argmax(1), labels=[0, 1, 2],
                                             average="macro", zero_division=0), "f1")


def test_multiclass_with_one_class_only_gives_nan_auc_and_defined_counts() -> None:
    y_true = [1, 1, 1, 1]
    y_score = np.array([[0.2, 0.5, 0.3], [0.1, 0.1, 0.8], [0.3, 0.6, 0.1], [0.4, 0.4, 0.2]])
    result = evaluate_warning([r"roc_auc is undefined for 3 class.*it is nan",
                               r"pr_auc is undefined for 2 class.*\['0', '2'\].*left out"],
                              y_true, y_score)
    assert math.isnan(result.roc_auc)
    assert all(math.isnan(curve.auc) for curve in result.roc_curves)
    assert_close(result.pr_auc, 1.0, "only class 1 has positives: its AP is the mean")
    assert result.accuracy == 0.5  # rows 0 and 2; row 3's tie goes to class 0, as argmax
    assert_close(result.f1, metrics.f1_score(y_true, y_score.argmax(1), labels=[0, 1, 2],
                                             average="macro", zero_division=0), "f1")


def test_multilabel_label_without_positives_is_named() -> None:
    y_true = np.array([[1, 0, 1], [0, 0, 1], [1, 0, 0], [1, 0, 1]])
    y_score = np.array([[0.9, 0.2, 0.6], [0.3, 0.1, 0.7], [0.8, 0.4, 0.2], [0.4, 0.3, 0.9]])
    result = evaluate_warning([r"roc_auc is undefined for 1 class.*\['b'\]",
                               r"pr_auc is undefined for 1 class.*\['b'\]"],
                              y_true, y_score, class_names=["a", "b", "c"])
    assert math.isnan(result.pr_curves[1].average_precision)
    assert math.isnan(result.roc_curves[1].auc)
    assert not math.isnan(result.roc_auc)


# --- a class never predicted -----------------------------------------------------------------

def test_class_never_predicted() -> None:
    y_true = np.array([0, 1, 2, 2, 1, 0])
    y_score = np.array([[0.6, 0.3, 0.1], [0.2, 0.7, 0.1], [0.5, 0.4, 0.1],
                        [0.1, 0.8, 0.1], [0.3, 0.6, 0.1], [0.7, 0.2, 0.1]])
    result = evaluate(y_true, y_score, average="macro")
    predicted = y_score.argmax(axis=1)
    assert 2 not in predicted
    precision, recall, f1, support = metrics.precision_recall_fscore_support(
        y_true, predicted, labels=[0, 1, 2], zero_division=0)
    assert result.per_class.precision[2] == 0.0 and result.per_class.f1[2] == 0.0
    assert_close(result.per_class.precision, precision, "precision")
    assert_close(result.per_class.recall, recall, "recall")
    assert_close(result.per_class.f1, f1, "f1")
    np.testing.assert_array_equal(result.per_class.support, support)
    np.testing.assert_array_equal(result.confusion_matrix[:, 2], [0, 0, 0])


def test_binary_positive_never_predicted() -> None:
    result = evaluate([0, 1, 1, 0], [0.1, 0.3, 0.2, 0.4])
    assert result.precision == 0.0 and result.recall == 0.0 and result.f1 == 0.0
    assert result.accuracy == 0.5


# --- equal scores and ties -------------------------------------------------------------------

@pytest.mark.parametrize("value", [0.0, 0.5, 0.3, 1.0])
def test_all_equal_binary_scores(value) -> None:
    y_true = [0, 1, 1, 0, 1]
    result = evaluate(y_true, [value] * 5)
    assert result.roc_auc == 0.5
    assert_close(result.pr_auc, 0.6, "AP of a constant score is the prevalence")
    np.testing.assert_array_equal(result.roc_curves[0].fpr, [0.0, 1.0])
    np.testing.assert_array_equal(result.roc_curves[0].tpr, [0.0, 1.0])
    assert result.pr_curves[0].prevalence == 0.6


def test_all_equal_multiclass_scores() -> None:
    y_true = [0, 1, 2, 1, 0, 2, 2]
    result = evaluate(y_true, np.full((7, 3), 1 / 3))
    assert result.roc_auc == 0.5
    assert all(curve.auc == 0.5 for curve in result.roc_curves)
    assert result.roc_micro.auc == 0.5
    assert result.roc_macro.auc == 0.5
    np.testing.assert_array_equal(result.confusion_matrix[:, 0], [2, 2, 3])  # argmax: class 0


def test_ties_match_sklearn() -> None:
    y_true = np.array([0, 1, 1, 0, 1, 0, 1, 1, 0, 0])
    y_score = np.array([0.5, 0.5, 0.8, 0.2, 0.5, 0.8, 0.2, 0.9, 0.5, 0.1])
    weight = np.array([1.0, 2.0, 0.5, 1.0, 0.0, 3.0, 1.0, 1.0, 2.0, 1.0])
    for sample_weight in (None, weight):
        result = evaluate(y_true, y_score, sample_weight=sample_weight)
        fpr, tpr, thresholds = roc_turning_points(y_true == 1, y_score, sample_weight)
        assert_close(result.roc_curves[0].fpr, fpr, "fpr")
        assert_close(result.roc_curves[0].tpr, tpr, "tpr")
        assert_close(result.roc_curves[0].thresholds, thresholds, "thresholds")
        assert_close(result.roc_auc, metrics.roc_auc_score(y_true, y_score,
                                                           sample_weight=sample_weight), "auc")
        assert_close(result.pr_auc, metrics.average_precision_score(
            y_true, y_score, sample_weight=sample_weight), "ap")


def test_score_equal_to_the_threshold_predicts_positive() -> None:
    for dtype in (np.float32, np.float64):
        scores = np.array([0.7, 0.69, 0.3], dtype=dtype)
        result = evaluate([1, 0, 0], scores, threshold=0.7)
        np.testing.assert_array_equal(result.confusion_matrix, [[2, 0], [0, 1]])
        multilabel = evaluate([[1, 0], [0, 0], [0, 1]], np.stack([scores, scores], axis=1),
                              task="multilabel", threshold=0.7)
        np.testing.assert_array_equal(multilabel.confusion_matrix[0], [[2, 0], [0, 1]])


@pytest.mark.filterwarnings("ignore:roc_auc is undefined")
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("threshold", [0.1, 0.3, 0.5, 0.7, 0.8, 0.9])
def test_one_threshold_rule_for_every_dtype_on_grid_values(dtype, threshold) -> None:
    """`score >= threshold` as NumPy compares it, on the score's own grid around the
    threshold: float16(0.8) is 0.7998, and it is positive at threshold 0.8."""
    scores = [dtype(threshold)]
    for _ in range(3):
        scores = [np.nextafter(scores[0], dtype(0)), *scores, np.nextafter(scores[-1], dtype(1))]
    scores = np.array(scores, dtype=dtype)
    positive = int(np.sum(scores >= threshold))
    assert positive == 4  # the grid value nearest the threshold and the three above it
    ones = np.ones(len(scores), dtype=int)
    binary = evaluate(ones, scores, threshold=threshold, task="binary")
    np.testing.assert_array_equal(binary.confusion_matrix, [[0, 0], [7 - positive, positive]])
    multilabel = evaluate(np.stack([ones, ones], axis=1), np.stack([scores, scores], axis=1),
                          task="multilabel", threshold=threshold)
    np.testing.assert_array_equal(multilabel.confusion_matrix[1],
                                  [[0, 0], [7 - positive, positive]])


# --- weights ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("y_true", "y_score", "kwargs"), [
    ([0, 1, 1], [0.2, 0.8, 0.4], {}),
    ([0, 1, 2], np.full((3, 3), 1 / 3), {}),
    ([0, 1, 2], np.full((3, 3), 1 / 3), {"average": "weighted"}),
    ([[0, 1], [1, 1], [0, 0]], np.full((3, 2), 0.6), {"task": "multilabel"}),
])
def test_all_zero_sample_weights_do_not_raise(y_true, y_score, kwargs) -> None:
    result = evaluate_quietly(y_true, y_score, sample_weight=np.zeros(3), **kwargs)
    scalars = result.scalars()
    assert set(scalars) == SCALARS
    for name in ("f1", "precision", "recall", "accuracy"):
        assert scalars[name] == 0.0
    assert math.isnan(scalars["roc_auc"]) and math.isnan(scalars["pr_auc"])
    assert not np.any(result.confusion_matrix)


def test_zero_weight_samples_are_left_out() -> None:
    y_true = np.array([0, 1, 1, 0, 1])
    y_score = np.array([0.2, 0.7, 0.4, 0.9, 0.1])
    kept = np.array([True, True, True, False, False])
    weighted = evaluate(y_true, y_score, sample_weight=kept.astype(float))
    subset = evaluate(y_true[kept], y_score[kept])
    for name in SCALARS:
        assert getattr(weighted, name) == pytest.approx(getattr(subset, name))
    np.testing.assert_array_equal(weighted.roc_curves[0].thresholds,
                                  subset.roc_curves[0].thresholds)


def test_integer_weights_equal_repeated_samples() -> None:
    y_true = np.array([0, 1, 2, 1, 0, 2])
    y_score = np.random.default_rng(0).dirichlet(np.ones(3), size=6)
    weight = np.array([1, 2, 3, 1, 2, 1])
    weighted = evaluate(y_true, y_score, sample_weight=weight)
    repeated = evaluate(np.repeat(y_true, weight), np.repeat(y_score, weight, axis=0))
    for name in SCALARS:
        assert getattr(weighted, name) == pytest.approx(getattr(repeated, name), rel=1e-12)
    np.testing.assert_allclose(weighted.roc_micro.fpr, repeated.roc_micro.fpr)
    np.testing.assert_allclose(weighted.confusion_matrix, repeated.confusion_matrix)


# --- tiny sets ------------------------------------------------------------------------------

def test_single_binary_sample() -> None:
    result = evaluate_warning(["roc_auc is undefined"], [1], [0.8])
    assert result.n_samples == 1
    assert result.accuracy == 1.0 and result.f1 == 1.0
    assert math.isnan(result.roc_auc)
    assert result.pr_auc == 1.0


def test_single_multiclass_sample() -> None:
    result = evaluate_warning(["roc_auc is undefined for 3 class",
                               r"pr_auc is undefined for 2 class.*\['0', '1'\]"],
                              [[2]], [[0.2, 0.3, 0.5]])
    assert result.accuracy == 1.0
    assert math.isnan(result.roc_auc)
    np.testing.assert_array_equal(result.confusion_matrix, [[0, 0, 0], [0, 0, 0], [0, 0, 1]])


def test_single_multilabel_sample() -> None:
    result = evaluate_quietly([[1, 0]], [[0.8, 0.9]], task="multilabel")
    assert result.accuracy == 0.0
    np.testing.assert_array_equal(result.confusion_matrix, [[[0, 0], [0, 1]], [[0, 1], [0, 0]]])


def test_two_samples_both_classes() -> None:
    result = evaluate([0, 1], [0.3, 0.6])
    assert result.roc_auc == 1.0 and result.pr_auc == 1.0 and result.f1 == 1.0


# --- the result object ---------------------------------------------------------------------

def _arrays(value, path="result"):
    """Every NumPy array reachable from an Evaluation, with where it was found."""
    if isinstance(value, np.ndarray):
        yield path, value
    elif dataclasses.is_dataclass(value):
        for field in dataclasses.fields(value):
            yield from _arrays(getattr(value, field.name), f"{path}.{field.name}")
    elif isinstance(value, tuple):
        for i, item in enumerate(value):
            yield from _arrays(item, f"{path}[{i}]")


@pytest.mark.parametrize(("y_true", "y_score", "kwargs"), [
    ([0, 1, 1, 0], [0.2, 0.8, 0.4, 0.6], {}),
    ([0, 1, 2, 1], np.random.default_rng(1).dirichlet(np.ones(3), 4), {}),
    ([[0, 1], [1, 1], [1, 0]], [[0.2, 0.8], [0.6, 0.7], [0.9, 0.1]], {"task": "multilabel"}),
    ([0, 1, 1], [0.1, 0.8, 0.3], {"sample_weight": [1.0, 2.0, 0.5]}),
])
def test_evaluation_is_immutable(y_true, y_score, kwargs) -> None:
    result = evaluate(y_true, y_score, **kwargs)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.f1 = 1.0  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.per_class.f1 = np.zeros(2)  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.roc_curves[0].auc = 1.0  # type: ignore[misc]
    arrays = list(_arrays(result))
    assert len(arrays) >= 10
    for path, array in arrays:
        assert not array.flags.writeable, f"{path} is writeable"
        with pytest.raises(ValueError, match="read-only"):
            array[...] = 0


def test_inputs_are_neither_changed_nor_frozen() -> None:
    y_true = np.array([0, 1, 2, 1, 0, 2])
    y_score = np.random.default_rng(2).dirichlet(np.ones(3), 6).astype(np.float32)
    weight = np.array([1.0, 2.0, 1.0, 0.5, 1.0, 1.0])
    copies = [y_true.copy(), y_score.copy(), weight.copy()]
    evaluate(y_true, y_score, sample_weight=weight)
    evaluate(y_score[:, :2].argmax(axis=1), y_score[:, :2])
    for array, copy in zip((y_true, y_score, weight), copies, strict=True):
        assert array.flags.writeable
        np.testing.assert_array_equal(array, copy)


@pytest.mark.parametrize(("y_true", "y_score", "kwargs"), [
    ([0, 1, 1, 0], np.array([0.2, 0.8, 0.4, 0.6], dtype=np.float32), {}),
    ([0, 1, 2], np.full((3, 3), 1 / 3, dtype=np.float32), {}),
    ([[0, 1], [1, 1]], [[0.2, 0.8], [0.6, 0.7]], {"task": "multilabel"}),
    ([0, 0], [0.2, 0.8], {}),  # undefined AUC: nan is still a float
])
def test_scalars_are_plain_python_floats(y_true, y_score, kwargs) -> None:
    scalars = evaluate_quietly(y_true, y_score, **kwargs).scalars()
    assert set(scalars) == SCALARS
    assert all(type(value) is float for value in scalars.values())


def test_defaults_of_the_result() -> None:
    result = evaluate([0, 1, 2], np.eye(3))
    assert result.class_names == ("0", "1", "2")
    assert result.average == "macro"
    assert result.threshold == 0.5
    assert result.task == "multiclass"
    assert result.per_class.names == ("0", "1", "2")
    assert [curve.label for curve in result.roc_curves] == ["0", "1", "2"]
    assert result.roc_micro.label == "micro" and result.roc_macro.label == "macro"
    binary = evaluate([0, 1], [0.2, 0.9])
    assert binary.average == "binary" and binary.class_names == ("0", "1")
    assert [curve.label for curve in binary.roc_curves] == ["1"]


@pytest.mark.parametrize(("y_true", "y_score", "task"), [
    ([0, 1, 1], [0.2, 0.8, 0.4], "binary"),
    ([[0], [1], [1]], [[0.2], [0.8], [0.4]], "binary"),
    ([0, 1, 1], [[0.8, 0.2], [0.2, 0.8], [0.6, 0.4]], "binary"),
    ([[1, 0], [0, 1], [0, 1]], [[0.8, 0.2], [0.2, 0.8], [0.6, 0.4]], "binary"),
    ([0, 2, 1], np.full((3, 3), 1 / 3), "multiclass"),
    (np.eye(3), np.full((3, 3), 1 / 3), "multiclass"),
    ([[1, 1, 0], [0, 0, 1], [0, 0, 0]], np.full((3, 3), 0.4), "multilabel"),
    ([[1, 1], [0, 1]], np.full((2, 2), 0.4), "multilabel"),
])
def test_task_inference(y_true, y_score, task) -> None:
    assert evaluate_quietly(y_true, y_score).task == task
