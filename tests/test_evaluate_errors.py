"""Every malformed input to `evaluate()` raises a ValueError that says what is wrong."""

from __future__ import annotations

import numpy as np
import pytest

from epoch_eval import evaluate

UNIFORM3 = np.full((3, 3), 1 / 3)


def test_lengths_that_differ() -> None:
    with pytest.raises(ValueError, match=r"same number of samples.*len\(y_true\)=3.*"
                                         r"len\(y_score\)=2"):
        evaluate([0, 1, 1], [0.1, 0.2])


def test_lengths_that_differ_with_one_hot_labels() -> None:
    with pytest.raises(ValueError, match="same number of samples"):
        evaluate(np.eye(3), np.full((4, 3), 0.25))


@pytest.mark.parametrize(("y_true", "y_score"), [
    ([], []),
    (np.zeros(0, dtype=int), np.zeros((0, 3))),
    (np.zeros((0, 3)), np.zeros((0, 3))),
])
def test_empty_set(y_true, y_score) -> None:
    with pytest.raises(ValueError, match="empty set"):
        evaluate(y_true, y_score)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_non_finite_binary_scores(bad, dtype) -> None:
    scores = np.array([0.1, bad, 0.7], dtype=dtype)
    with pytest.raises(ValueError, match=r"must be finite.*1 NaN or infinite.*index \(1,\)"):
        evaluate([0, 1, 1], scores)


def test_non_finite_multiclass_scores_are_refused_even_from_logits() -> None:
    scores = np.zeros((3, 3))
    scores[2, 1] = np.nan
    with pytest.raises(ValueError, match=r"must be finite.*index \(2, 1\)"):
        evaluate([0, 1, 2], scores, from_logits=True)


@pytest.mark.parametrize(("labels", "found"), [
    ([0, 1, 3], r"\[3\]"),
    ([0, -1, 2], r"\[-1\]"),
    ([0, 7, 3], r"\[3, 7\]"),
    ([0.0, 4.0, 2.0], r"\[4\.0\]"),
    ([0.0, 1e300, 2.0], r"\[1e\+300\]"),
])
def test_multiclass_labels_outside_the_classes(labels, found) -> None:
    with pytest.raises(ValueError, match=r"outside \[0, 3\).*found " + found):
        evaluate(labels, UNIFORM3)


def test_binary_labels_outside_zero_one() -> None:
    with pytest.raises(ValueError, match=r"outside \[0, 2\) for task='binary'.*found \[2\]"):
        evaluate([0, 1, 2], [0.2, 0.8, 0.5])


def test_labels_outside_as_a_column() -> None:
    with pytest.raises(ValueError, match=r"outside \[0, 3\)"):
        evaluate(np.array([[0], [1], [5]]), UNIFORM3)


@pytest.mark.parametrize("bad", [1.5, np.nan, np.inf, -0.5])
def test_non_integer_labels(bad) -> None:
    with pytest.raises(ValueError, match="whole-number class indices"):
        evaluate([0.0, bad, 2.0], UNIFORM3)


def test_non_integer_binary_labels() -> None:
    with pytest.raises(ValueError, match="whole-number class indices"):
        evaluate([0.0, 0.5, 1.0], [0.1, 0.5, 0.9])


def test_multilabel_labels_other_than_zero_one() -> None:
    with pytest.raises(ValueError, match=r"only 0 and 1.*\[2\]"):
        evaluate([[0, 1, 2], [1, 0, 0]], np.full((2, 3), 0.5), task="multilabel")


def test_one_hot_width_that_does_not_fit_the_scores() -> None:
    with pytest.raises(ValueError, match=r"width of `y_score` does not fit.*"
                                         r"y_true.shape=\(3, 3\).*y_score.shape=\(3, 4\)"):
        evaluate(np.eye(3), np.full((3, 4), 0.25))


def test_one_hot_width_that_does_not_fit_the_scores_under_multiclass() -> None:
    with pytest.raises(ValueError, match=r"needs 4 columns.*y_true.shape=\(3, 3\)"):
        evaluate(np.eye(3), np.full((3, 4), 0.25), task="multiclass")


def test_multilabel_width_that_does_not_fit_the_scores() -> None:
    with pytest.raises(ValueError, match=r"must both be \(n, L\)"):
        evaluate([[0, 1], [1, 1]], np.full((2, 3), 0.5), task="multilabel")


def test_class_names_that_do_not_fit_the_width() -> None:
    with pytest.raises(ValueError, match=r"name each of the 3 classes.*Received 2 names"):
        evaluate([0, 1, 2], UNIFORM3, class_names=["a", "b"])


def test_class_names_that_do_not_fit_binary() -> None:
    with pytest.raises(ValueError, match=r"name each of the 2 classes.*Received 3 names"):
        evaluate([0, 1], [0.2, 0.7], class_names=["a", "b", "c"])


def test_class_names_as_a_string() -> None:
    with pytest.raises(ValueError, match="not a string"):
        evaluate([0, 1], [0.2, 0.7], class_names="ab")


def test_class_names_that_repeat() -> None:
    with pytest.raises(ValueError, match="distinct"):
        evaluate([0, 1, 2], UNIFORM3, class_names=["a", "b", "a"])


def test_binary_width_that_fits_nothing() -> None:
    with pytest.raises(ValueError, match=r"task='binary'.*\(n, 2\).*y_score.shape=\(3, 3\)"):
        evaluate([0, 1, 1], UNIFORM3, task="binary")


def test_one_hot_rows_that_do_not_sum_to_one_under_multiclass() -> None:
    y_true = np.array([[1, 0, 0], [1, 1, 0], [0, 0, 0]])
    with pytest.raises(ValueError, match=r"single 1 per row.*rows \[1, 2\].*multilabel"):
        evaluate(y_true, UNIFORM3, task="multiclass")


@pytest.mark.parametrize("threshold", [0, 1, -1, np.nan, 1.5, 0.0, 1.0, "half", None])
def test_threshold_outside_zero_one(threshold) -> None:
    with pytest.raises(ValueError, match=r"Invalid `threshold`.*0 < threshold < 1.*"
                                         r"Received: threshold="):
        evaluate([0, 1], [0.2, 0.8], threshold=threshold)


def test_threshold_is_checked_for_multiclass_too() -> None:
    with pytest.raises(ValueError, match="Invalid `threshold`"):
        evaluate([0, 1, 2], UNIFORM3, threshold=1.5)


@pytest.mark.parametrize("task", ["regression", "Binary", "multi-class", ""])
def test_unknown_task(task) -> None:
    with pytest.raises(ValueError, match=rf"Invalid `task`.*Received: task='{task}'"):
        evaluate([0, 1], [0.2, 0.8], task=task)


@pytest.mark.parametrize("average", ["samples", "Macro", "none", ""])
def test_unknown_average(average) -> None:
    with pytest.raises(ValueError, match=rf"Invalid `average`.*Received: average='{average}'"):
        evaluate([0, 1], [0.2, 0.8], average=average)


def test_binary_average_for_multiclass() -> None:
    with pytest.raises(ValueError, match=r"Invalid `average` argument value for "
                                         r"task='multiclass'.*average='binary'"):
        evaluate([0, 1, 2], UNIFORM3, average="binary")


def test_binary_average_for_multilabel() -> None:
    with pytest.raises(ValueError, match=r"task='multilabel'.*average='binary'"):
        evaluate([[0, 1], [1, 1]], np.full((2, 2), 0.5), task="multilabel", average="binary")


def test_binary_average_for_a_given_multiclass_task() -> None:
    with pytest.raises(ValueError, match="Invalid `average`"):
        evaluate([0, 1, 2], UNIFORM3, task="multiclass", average="binary")


@pytest.mark.parametrize(("weight", "message"), [
    ([1.0, -1.0, 1.0], r"finite and non-negative.*min=-1\.0"),
    ([1.0, np.nan, 1.0], r"finite and non-negative.*1 non-finite"),
    ([1.0, np.inf, 1.0], r"finite and non-negative.*1 non-finite"),
    ([1.0, 1.0], r"one value per sample \(3\).*shape=\(2,\)"),
    ([1.0, 1.0, 1.0, 1.0], r"one value per sample \(3\).*shape=\(4,\)"),
    (["a", "b", "c"], r"`sample_weight` must be numeric"),
])
def test_bad_sample_weight(weight, message) -> None:
    with pytest.raises(ValueError, match=message):
        evaluate([0, 1, 1], [0.2, 0.8, 0.6], sample_weight=weight)


@pytest.mark.parametrize(("y_true", "y_score", "name"), [
    (["a", "b"], [0.2, 0.8], "y_true"),
    ([0, 1], ["x", "y"], "y_score"),
    ([0, 1], [None, 0.3], "y_score"),
    ([0, 1], [{"p": 1}, 0.3], "y_score"),
    ([None, 1], [0.2, 0.3], "y_true"),
])
def test_non_numeric_input(y_true, y_score, name) -> None:
    with pytest.raises(ValueError, match=rf"`{name}` must be numeric"):
        evaluate(y_true, y_score)


def test_scalar_input() -> None:
    with pytest.raises(ValueError, match="array of samples"):
        evaluate(1, 0.5)


def test_three_dimensional_input() -> None:
    with pytest.raises(ValueError, match="1-D or 2-D"):
        evaluate(np.zeros((2, 2, 2)), np.zeros((2, 2, 2)))


def test_multiclass_scores_with_one_column() -> None:
    with pytest.raises(ValueError, match=r"C >= 2 columns.*y_score.shape=\(3,\)"):
        evaluate([0, 1, 1], [0.2, 0.5, 0.6], task="multiclass")
