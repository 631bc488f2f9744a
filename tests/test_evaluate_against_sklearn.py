"""Property tests: `evaluate()` equals scikit-learn on random cases of every task and format.

Hundreds of random cases per task: every label format, score format (1-D, column, 2-column
softmax, float32, tied/rounded scores, logits), every average, with and without sample weights
(some of them zero). Values must agree to 1e-9 relative.
"""

from __future__ import annotations

import importlib
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from sklearn_oracle import WEIGHT_VALUES, Case, assert_close, cases, check_micro_roc, expected

from epoch_eval import evaluate
from epoch_eval.metrics.curves import CURVE_SAMPLES

evaluate_module = importlib.import_module("epoch_eval.metrics.evaluate")
THREADS_FROM_SCORES = evaluate_module.THREADS_FROM_SCORES

PROPERTY = settings(max_examples=200, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])


def check_against_sklearn(case: Case) -> None:
    weight = case.sample_weight
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = evaluate(case.y_true, case.y_score, **case.kwargs)
    assert result.task == case.task
    assert result.n_samples == len(case.y_true)
    assert result.average == case.average
    if weight is not None and not weight.any():
        return  # scikit-learn refuses all-zero weights; see test_evaluate_degenerate.py
    want = expected(case)

    for name in ("f1", "precision", "recall", "accuracy", "roc_auc", "pr_auc"):
        assert_close(getattr(result, name), want[name], name)
    assert_close(result.confusion_matrix, want["confusion_matrix"], "confusion_matrix")
    if weight is None:
        np.testing.assert_array_equal(result.confusion_matrix, want["confusion_matrix"])

    precision, recall, f1, support = want["per_class"]
    assert_close(result.per_class.precision, precision, "per-class precision")
    assert_close(result.per_class.recall, recall, "per-class recall")
    assert_close(result.per_class.f1, f1, "per-class f1")
    assert_close(result.per_class.support, support, "per-class support")
    assert len(result.per_class.names) == want["n_classes"]

    assert_close([c.auc for c in result.roc_curves], want["roc_auc_per_class"], "per-class AUC")
    assert_close([c.average_precision for c in result.pr_curves], want["pr_auc_per_class"],
                 "per-class average precision")
    assert len(result.roc_curves) == len(want["roc_curves"])
    for k, (ours, (fpr, tpr, thresholds)) in enumerate(
            zip(result.roc_curves, want["roc_curves"], strict=True)):
        assert_close(ours.fpr, fpr, f"ROC fpr of class {k}")
        assert_close(ours.tpr, tpr, f"ROC tpr of class {k}")
        assert_close(ours.thresholds, thresholds, f"ROC thresholds of class {k}")
    for k, (ours, (precision, recall, thresholds)) in enumerate(
            zip(result.pr_curves, want["pr_curves"], strict=True)):
        assert_close(ours.precision, precision, f"PR precision of class {k}")
        assert_close(ours.recall, recall, f"PR recall of class {k}")
        assert_close(ours.thresholds, thresholds, f"PR thresholds of class {k}")

    if case.task == "binary":
        assert result.roc_micro is None and result.roc_macro is None
    else:
        check_micro_roc(result.roc_micro, want["roc_micro"], want["roc_micro_every_point"],
                        CURVE_SAMPLES)
        check_macro_roc(result.roc_macro, want["roc_curves"], want["roc_auc_per_class"])


def check_macro_roc(macro, class_curves, class_aucs) -> None:
    """scikit-learn's recipe, the mean of `np.interp` of the defined per-class curves, on the
    union of their false positive rates (up to 4,001 points together), else on a fixed grid;
    its AUC the mean of the per-class AUCs."""
    defined = [(curve, auc) for curve, auc in zip(class_curves, class_aucs, strict=True)
               if not np.isnan(auc)]
    if not defined:
        assert np.isnan(macro.auc)
        return
    if sum(len(fpr) for (fpr, _, _), _ in defined) <= CURVE_SAMPLES + 1:
        grid = np.unique(np.concatenate([fpr for (fpr, _, _), _ in defined]))
    else:
        grid = np.linspace(0, 1, CURVE_SAMPLES + 1)
    mean_tpr = np.mean([np.interp(grid, fpr, tpr) for (fpr, tpr, _), _ in defined], axis=0)
    assert_close(macro.fpr, grid, "macro ROC fpr")
    assert_close(macro.tpr, mean_tpr, "macro ROC tpr")
    assert_close(macro.auc, np.mean([auc for _, auc in defined]), "macro ROC auc")


@PROPERTY
@given(cases("binary"))
def test_binary_equals_sklearn(case: Case) -> None:
    check_against_sklearn(case)


@PROPERTY
@given(cases("multiclass"))
def test_multiclass_equals_sklearn(case: Case) -> None:
    check_against_sklearn(case)


@PROPERTY
@given(cases("multilabel"))
def test_multilabel_equals_sklearn(case: Case) -> None:
    check_against_sklearn(case)


@pytest.mark.parametrize("task", ["multiclass", "multilabel", "binary"])
@pytest.mark.parametrize("weighted", [False, True])
def test_large_input_equals_sklearn(task, weighted) -> None:
    """Large inputs, whose classes are ranked on threads, equal scikit-learn too."""
    rng = np.random.default_rng(11)
    n, n_classes = 40_000, 4
    if task == "binary":
        labels = rng.integers(0, 2, n)
        scores = np.clip(labels * 0.3 + rng.random(n) * 0.7, 0, 1).astype(np.float32)
        y_true = labels
    elif task == "multiclass":
        y_true = rng.integers(0, n_classes, n)
        scores = rng.dirichlet(np.ones(n_classes), n).astype(np.float32)
        scores[np.arange(n), y_true] += 0.2
    else:
        y_true = (rng.random((n, n_classes)) < 0.3).astype(int)
        scores = np.round(0.3 * y_true + 0.7 * rng.random((n, n_classes)), 3)
    kwargs = {"task": task}
    if weighted:
        kwargs["sample_weight"] = rng.choice(WEIGHT_VALUES, size=n)
    assert task == "binary" or scores.size >= THREADS_FROM_SCORES
    check_against_sklearn(Case(task, y_true, scores, kwargs))


def test_threads_give_the_same_result_as_one_thread(monkeypatch) -> None:
    rng = np.random.default_rng(12)
    y_true = rng.integers(0, 6, 3000)
    scores = np.round(rng.dirichlet(np.ones(6), 3000), 2)
    serial = evaluate(y_true, scores)
    monkeypatch.setattr(evaluate_module, "THREADS_FROM_SCORES", 0)
    monkeypatch.setattr(evaluate_module.os, "cpu_count", lambda: 2)
    threaded = evaluate(y_true, scores)
    assert serial.scalars() == threaded.scalars()
    for ours, theirs in zip(serial.roc_curves + serial.pr_curves,
                            threaded.roc_curves + threaded.pr_curves, strict=True):
        for name in ("label", "thresholds"):
            np.testing.assert_array_equal(getattr(ours, name), getattr(theirs, name))
