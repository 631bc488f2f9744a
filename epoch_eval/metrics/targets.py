"""Check labels and scores, infer the task, and bring them to one canonical form."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import expit, softmax

from epoch_eval.metrics.result import Task

TASKS: tuple[str, ...] = ("binary", "multiclass", "multilabel")
AVERAGES: dict[str, tuple[str, ...]] = {
    "binary": ("binary", "micro", "macro", "weighted"),
    "multiclass": ("micro", "macro", "weighted"),
    "multilabel": ("micro", "macro", "weighted"),
}


@dataclass(frozen=True)
class Targets:
    """Validated labels and scores in canonical form.

    `labels` is `(n,)` class indices for binary and multiclass, `(n, L)` booleans for
    multilabel. `scores` is `(n,)` positive-class probabilities for binary, `(n, C)` otherwise.
    """

    task: Task
    labels: np.ndarray
    scores: np.ndarray
    sample_weight: np.ndarray | None
    class_names: tuple[str, ...]
    threshold: float
    average: str

    @property
    def n_classes(self) -> int:
        return len(self.class_names)


def check_task(task: str | None) -> None:
    if task is not None and task not in TASKS:
        raise ValueError(f"Invalid `task` argument value. Expected one of {TASKS} or None. "
                         f"Received: task={task!r}")


def check_threshold(threshold: float) -> float:
    try:
        value = float(threshold)
    except (TypeError, ValueError):
        value = float("nan")
    if not 0.0 < value < 1.0:
        raise ValueError("Invalid `threshold` argument value. It should verify "
                         f"0 < threshold < 1. Received: threshold={threshold!r}")
    return value


def check_average(average: str | None, task: str | None) -> None:
    """Refuse an averaging mode that no task (or not the given task) accepts."""
    allowed = AVERAGES[task] if task is not None else AVERAGES["binary"]
    if average is not None and average not in allowed:
        where = f" for task={task!r}" if task is not None else ""
        raise ValueError(f"Invalid `average` argument value{where}. Expected one of "
                         f"{allowed} or None. Received: average={average!r}")


def to_targets(
    y_true: Any,
    y_score: Any,
    *,
    task: str | None = None,
    threshold: float = 0.5,
    average: str | None = None,
    from_logits: bool = False,
    sample_weight: Any = None,
    class_names: Sequence[str] | None = None,
) -> Targets:
    """Validate `evaluate()`'s inputs and return them as `Targets`.

    Raises:
        ValueError: with what is wrong and what was received, for any malformed input.
    """
    check_task(task)
    threshold = check_threshold(threshold)
    check_average(average, task)
    labels = _as_numeric(y_true, "y_true")
    scores = _as_numeric(y_score, "y_score")
    _check_lengths(labels, scores)
    weight = _check_sample_weight(sample_weight, len(labels))
    _check_finite_scores(scores)
    if scores.ndim not in (1, 2) or labels.ndim not in (1, 2):
        raise ValueError("`y_true` and `y_score` must be 1-D or 2-D. Received: "
                         f"y_true.shape={labels.shape}, y_score.shape={scores.shape}")
    resolved: Task = task or _infer_task(labels, scores)  # type: ignore[assignment]
    check_average(average, resolved)
    average = average or ("binary" if resolved == "binary" else "macro")
    if resolved == "binary":
        labels, scores = _binary(labels, scores, from_logits)
        n_classes = 2
    elif resolved == "multiclass":
        labels, scores = _multiclass(labels, scores, from_logits)
        n_classes = scores.shape[1]
    else:
        labels, scores = _multilabel(labels, scores, from_logits)
        n_classes = scores.shape[1]
    names = _class_names(class_names, n_classes, resolved)
    return Targets(resolved, labels, scores, weight, names, threshold, average)


def _as_numeric(values: Any, name: str) -> np.ndarray:
    array = np.asarray(values)
    if array.dtype == object or not (np.issubdtype(array.dtype, np.number)
                                     or array.dtype == bool):
        raise ValueError(f"`{name}` must be numeric. Received: {name} with dtype {array.dtype}")
    if array.ndim == 0:
        raise ValueError(f"`{name}` must be an array of samples. Received: {name}={values!r}")
    return array


def _check_lengths(labels: np.ndarray, scores: np.ndarray) -> None:
    if len(labels) != len(scores):
        raise ValueError("`y_true` and `y_score` must have the same number of samples. "
                         f"Received: len(y_true)={len(labels)}, len(y_score)={len(scores)}")
    if len(labels) == 0:
        raise ValueError("Cannot evaluate an empty set: at least one sample is needed. "
                         f"Received: y_true.shape={labels.shape}, y_score.shape={scores.shape}")


def _check_sample_weight(sample_weight: Any, n: int) -> np.ndarray | None:
    if sample_weight is None:
        return None
    try:
        weight = np.asarray(sample_weight, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise ValueError("`sample_weight` must be numeric, one value per sample. Received: "
                         f"sample_weight={sample_weight!r:.200}") from None
    if weight.shape != (n,):
        raise ValueError(f"`sample_weight` must have one value per sample ({n}). "
                         f"Received: sample_weight.shape={np.shape(sample_weight)}")
    if not np.all(np.isfinite(weight)) or np.any(weight < 0):
        raise ValueError("`sample_weight` must be finite and non-negative. Received: "
                         f"min={np.nanmin(weight) if weight.size else None}, "
                         f"{int(np.sum(~np.isfinite(weight)))} non-finite values")
    return weight


def _check_finite_scores(scores: np.ndarray) -> None:
    if scores.dtype == bool or np.issubdtype(scores.dtype, np.integer):
        return
    finite = np.isfinite(scores)
    if not finite.all():
        bad = np.argwhere(~finite)
        raise ValueError(f"`y_score` must be finite, but it holds {len(bad)} NaN or infinite "
                         f"values (first at index {tuple(int(i) for i in bad[0])}: "
                         f"{scores[tuple(bad[0])]}). A diverged model predicts NaN.")


def _is_one_hot(labels: np.ndarray) -> bool:
    return bool(np.isin(labels, (0, 1)).all() and (labels.sum(axis=1) == 1).all())


def _infer_task(labels: np.ndarray, scores: np.ndarray) -> str:
    width = 1 if scores.ndim == 1 else scores.shape[1]
    if width == 1:
        return "binary"
    if labels.ndim == 2 and labels.shape[1] > 1:
        if labels.shape[1] != width:
            raise ValueError(_width_message(labels, scores))
        if not _is_one_hot(labels):
            return "multilabel"
    return "binary" if width == 2 else "multiclass"


def _width_message(labels: np.ndarray, scores: np.ndarray) -> str:
    return ("The width of `y_score` does not fit the labels: a 2-D `y_true` needs one column "
            f"per column of `y_score`. Received: y_true.shape={labels.shape}, "
            f"y_score.shape={scores.shape}")


def _class_indices(labels: np.ndarray, n_classes: int, task: str) -> np.ndarray:
    """Sparse `(n,)`, column `(n, 1)` or one-hot `(n, C)` labels as `(n,)` class indices."""
    if labels.ndim == 2 and labels.shape[1] > 1:
        if labels.shape[1] != n_classes:
            raise ValueError(f"A one-hot `y_true` for task={task!r} needs {n_classes} columns, "
                             f"one per class. Received: y_true.shape={labels.shape}")
        if not _is_one_hot(labels):
            rows = np.flatnonzero(labels.sum(axis=1) != 1)[:5].tolist()
            raise ValueError(f"A one-hot `y_true` for task={task!r} must hold a single 1 per "
                             f"row, but rows {rows} do not sum to 1. For several labels per "
                             "sample use task='multilabel'.")
        return np.argmax(labels, axis=1)
    flat = labels.reshape(len(labels), -1)
    if flat.shape[1] != 1:
        raise ValueError(f"`y_true` must be class indices of shape (n,) or (n, 1), or one-hot. "
                         f"Received: y_true.shape={labels.shape}")
    flat = flat[:, 0]
    if flat.dtype != bool and not np.issubdtype(flat.dtype, np.integer):
        whole = np.isfinite(flat) & (flat == np.round(flat))
        if not whole.all():
            raise ValueError("`y_true` must hold whole-number class indices. Received "
                             f"non-integer values such as {flat[~whole][:3]}")
    # checked before the cast to integers, which would wrap values too large for it
    outside = (flat < 0) | (flat >= n_classes)
    if outside.any():
        found = np.unique(flat[outside])[:5].tolist()
        raise ValueError(f"`y_true` holds labels outside [0, {n_classes}) for task={task!r} "
                         f"with {n_classes} classes: found {found}. Check that `y_score` has "
                         "one column per class.")
    return flat.astype(np.intp)


def _binary(labels: np.ndarray, scores: np.ndarray, from_logits: bool):
    if scores.ndim == 2 and scores.shape[1] not in (1, 2):
        raise ValueError("For task='binary', `y_score` must be (n,), (n, 1) or a 2-column "
                         f"softmax (n, 2). Received: y_score.shape={scores.shape}")
    indices = _class_indices(labels, 2, "binary")
    values = _float_scores(scores)
    if from_logits:
        values = values.astype(np.float64, copy=False)
    if values.ndim == 2 and values.shape[1] == 2:
        # softmax over two columns == sigmoid of the difference of the logits
        positive = expit(values[:, 1] - values[:, 0]) if from_logits else values[:, 1]
    else:
        positive = values.reshape(-1)
        positive = expit(positive) if from_logits else positive
    return indices, np.ascontiguousarray(positive)


def _multiclass(labels: np.ndarray, scores: np.ndarray, from_logits: bool):
    if scores.ndim != 2 or scores.shape[1] < 2:
        raise ValueError("For task='multiclass', `y_score` must be (n, C) with C >= 2 "
                         f"columns. Received: y_score.shape={scores.shape}")
    indices = _class_indices(labels, scores.shape[1], "multiclass")
    values = _float_scores(scores)
    if from_logits:
        values = softmax(values.astype(np.float64), axis=1)
    return indices, values


def _multilabel(labels: np.ndarray, scores: np.ndarray, from_logits: bool):
    if scores.ndim != 2 or labels.shape != scores.shape:
        raise ValueError("For task='multilabel', `y_true` and `y_score` must both be (n, L). "
                         f"Received: y_true.shape={labels.shape}, y_score.shape={scores.shape}")
    if not np.isin(labels, (0, 1)).all():
        raise ValueError("For task='multilabel', `y_true` must hold only 0 and 1. Received "
                         f"values {np.unique(labels[~np.isin(labels, (0, 1))])[:5].tolist()}")
    values = _float_scores(scores)
    if from_logits:
        values = expit(values.astype(np.float64))
    return labels.astype(bool), values


def _float_scores(scores: np.ndarray) -> np.ndarray:
    """Keep float16/32/64 scores as they are (no copy); promote anything else to float64.

    Keeping the dtype makes one threshold rule for all: `score >= threshold` as NumPy
    compares it, in the scores' own dtype (the threshold rounded to it).
    """
    if scores.dtype in (np.float16, np.float32, np.float64):
        return scores
    return scores.astype(np.float64)


def check_class_names(names: Sequence[str] | None) -> tuple[str, ...] | None:
    """`names` as a tuple of distinct strings (None stays None); the count is checked later,
    against the width of the scores."""
    if names is None:
        return None
    if isinstance(names, str):
        raise ValueError(f"`class_names` must be a sequence of names, not a string. "
                         f"Received: class_names={names!r}")
    result = tuple(str(name) for name in names)
    if len(set(result)) != len(result):
        raise ValueError(f"`class_names` must be distinct. Received: {list(result)}")
    return result


def _class_names(names: Sequence[str] | None, n_classes: int, task: str) -> tuple[str, ...]:
    result = check_class_names(names)
    if result is None:
        return tuple(str(i) for i in range(n_classes))
    if len(result) != n_classes:
        what = "labels" if task == "multilabel" else "classes"
        raise ValueError(f"`class_names` must name each of the {n_classes} {what} of this "
                         f"{task} task (from the width of `y_score`). Received "
                         f"{len(result)} names: {list(result)[:10]}")
    return result
