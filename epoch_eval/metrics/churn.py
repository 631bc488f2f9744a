"""Prediction churn: how many validation rows changed their predicted label between epochs."""

from __future__ import annotations

import numpy as np

from epoch_eval.metrics.targets import Targets


def predicted_labels(targets: Targets) -> np.ndarray:
    """Each row's predicted class `(n,)` (binary: `score >= threshold`; multiclass: the first
    highest score), or `(n, L)` booleans for multilabel."""
    if targets.task == "multilabel":
        return targets.scores >= targets.threshold
    if targets.task == "binary":
        return (targets.scores >= targets.threshold).astype(np.intp)
    return np.argmax(targets.scores, axis=1)


def same_rows(previous: Targets, current: Targets) -> bool:
    """Whether two passes over validation data saw the same rows in the same order, as far as
    their labels and weights tell."""
    if previous.labels.shape != current.labels.shape:
        return False
    if not np.array_equal(previous.labels, current.labels):
        return False
    before, now = previous.sample_weight, current.sample_weight
    if before is None or now is None:
        return before is None and now is None
    return np.array_equal(before, now)


def churn(previous: np.ndarray, current: np.ndarray, sample_weight: np.ndarray | None) -> float:
    """The weighted fraction of rows (multilabel: of row-label pairs) whose predicted label
    differs between `previous` and `current` (aligned rows, as from `predicted_labels`).
    nan when every weight is 0."""
    changed = previous != current
    if changed.ndim == 2:
        changed = changed.mean(axis=1)
    if sample_weight is None:
        return float(changed.mean()) if len(changed) else float("nan")
    total = float(np.sum(sample_weight))
    return float(np.sum(sample_weight * changed) / total) if total > 0 else float("nan")
