"""Evaluations on random data for the chart tests (imported by tests/test_charts_*.py)."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from epoch_eval import Evaluation, evaluate


def multiclass(n_classes: int, n: int = 600, *, seed: int = 0,
               names: bool | Sequence[str] = True, **kwargs) -> Evaluation:
    """A fair multiclass model: the true class's logit gets a random boost.

    `names`: True for "class_00", ...; False for evaluate()'s default; or the names.
    """
    rng = np.random.default_rng(seed)
    y = rng.integers(0, n_classes, n)
    logits = rng.normal(size=(n, n_classes))
    logits[np.arange(n), y] += 3.0 * rng.random(n)
    scores = np.exp(logits)
    scores /= scores.sum(axis=1, keepdims=True)
    if names is True:
        class_names = [f"class_{k:02d}" for k in range(n_classes)]
    else:
        class_names = list(names) if names else None
    return evaluate(y, scores, class_names=class_names, **kwargs)


def binary(n: int = 400, *, seed: int = 0) -> Evaluation:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    return evaluate(y, np.clip(0.3 * y + 0.7 * rng.random(n), 0, 1),
                    class_names=["benign", "malignant"])


def multilabel(n_labels: int = 5, n: int = 400, *, seed: int = 0) -> Evaluation:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, (n, n_labels))
    scores = np.clip(0.35 * y + 0.65 * rng.random((n, n_labels)), 0, 1)
    return evaluate(y, scores, class_names=[f"label_{k}" for k in range(n_labels)])


def multiclass_with_absent_class() -> Evaluation:
    """Four classes, the last never true: its ROC and PR curves are undefined."""
    rng = np.random.default_rng(3)
    y = rng.integers(0, 3, 300)
    scores = rng.dirichlet(np.ones(4), 300)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return evaluate(y, scores, class_names=["cat", "dog", "bird", "fish"])


def undefined() -> Evaluation:
    return Evaluation.undefined(task="multiclass", n_samples=10, class_names=("a", "b", "c"),
                                threshold=0.5, average="macro",
                                reason="the model predicted NaN for 10 of 10 rows")
