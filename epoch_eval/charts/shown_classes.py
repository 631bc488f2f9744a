"""Which classes a confusion-matrix chart shows: all of them up to a limit, else those most
involved in errors, with the rest summed into one "all other classes" row and column."""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np

from epoch_eval.metrics.result import Evaluation, frozen_array

MAX_SHOWN_CLASSES = 30
"""Beyond this many classes a multiclass matrix shows a sub-matrix of this many."""
MAX_SHOWN_LABELS = 16
"""Beyond this many labels a multilabel grid shows this many panels."""
OTHER_CLASSES = "all other classes"


@dataclass(frozen=True)
class ShownClasses:
    """The part of an evaluation's confusion matrix that a chart shows.

    Attributes:
        indices: the shown classes (labels), in class order.
        total: how many classes (labels) the evaluation has.
        names: the row and column names, ending with `OTHER_CLASSES` when some are summed.
        matrices: the drawn matrices: one `(k, k)` or `(k + 1, k + 1)` matrix (multiclass,
            binary), or one `(2, 2)` per shown label (multilabel).
        note: what the chart says about the choice; "" when everything is shown.
    """

    indices: tuple[int, ...]
    total: int
    names: tuple[str, ...]
    matrices: tuple[np.ndarray, ...]
    note: str

    @property
    def is_all(self) -> bool:
        """True when every class is shown."""
        return len(self.indices) == self.total


_last: tuple[weakref.ref[Evaluation], ShownClasses] | None = None
"""The last evaluation asked about and its answer: a chart asks two or three times (its
size, then what to draw), and at 1,000 classes each answer costs 5 ms."""


def shown_classes(evaluation: Evaluation) -> ShownClasses:
    """Choose what the confusion-matrix chart of `evaluation` shows (its matrices are
    read-only).

    Multiclass and binary: up to `MAX_SHOWN_CLASSES` classes, all of them; beyond, the
    `MAX_SHOWN_CLASSES` classes with the most off-diagonal weight (row plus column; ties go
    to the lower index), and one `OTHER_CLASSES` row and column summing the rest, so that
    each row still adds up to its class' support. Multilabel: up to `MAX_SHOWN_LABELS` labels,
    all; beyond, the labels with the most errors (false positives plus false negatives).
    """
    global _last
    last = _last  # one read: another thread may replace it
    if last is not None and last[0]() is evaluation:  # immutable: the same answer
        return last[1]
    shown = _choose(evaluation)
    shown = ShownClasses(shown.indices, shown.total, shown.names,
                         tuple(frozen_array(matrix) for matrix in shown.matrices), shown.note)
    _last = (weakref.ref(evaluation), shown)
    return shown


def _choose(evaluation: Evaluation) -> ShownClasses:
    matrix = np.asarray(evaluation.confusion_matrix, dtype=np.float64)
    names = evaluation.class_names
    total = len(names)
    if evaluation.task == "multilabel":
        if total <= MAX_SHOWN_LABELS:
            return ShownClasses(tuple(range(total)), total, names, tuple(matrix), "")
        errors = np.nan_to_num(matrix[:, 0, 1] + matrix[:, 1, 0])
        indices = _top(errors, MAX_SHOWN_LABELS)
        rest = np.ones(total, dtype=bool)
        rest[list(indices)] = False
        note = (f"{len(indices)} of {total:,} labels shown: those with the most errors (FP + FN);"
                f" the other {total - len(indices):,} have {_count(errors[rest].sum())} errors")
        return ShownClasses(indices, total, tuple(names[k] for k in indices),
                            tuple(matrix[list(indices)]), note)
    if total <= MAX_SHOWN_CLASSES:
        return ShownClasses(tuple(range(total)), total, names, (matrix,), "")
    clean = np.nan_to_num(matrix)
    diagonal = np.diagonal(clean)
    involvement = clean.sum(axis=1) + clean.sum(axis=0) - 2.0 * diagonal
    indices = _top(involvement, MAX_SHOWN_CLASSES)
    note = (f"{len(indices)} of {total:,} classes shown: those most involved in errors "
            f"(off-diagonal weight); the rest summed as \u201c{OTHER_CLASSES}\u201d")
    return ShownClasses(indices, total, (*(names[k] for k in indices), OTHER_CLASSES),
                        (collapse(matrix, indices),), note)


def collapse(matrix: np.ndarray, indices: tuple[int, ...]) -> np.ndarray:
    """The `(k + 1, k + 1)` matrix of the classes `indices` and one last row and column that
    sum every other class (each sum taken directly, so rows keep their totals)."""
    shown = np.asarray(indices, dtype=np.intp)
    rest = np.ones(len(matrix), dtype=bool)
    rest[shown] = False
    k = len(shown)
    out = np.empty((k + 1, k + 1))
    rows = matrix[shown]
    out[:k, :k] = rows[:, shown]
    out[:k, k] = rows[:, rest].sum(axis=1)
    others = matrix[rest]
    out[k, :k] = others[:, shown].sum(axis=0)
    out[k, k] = others[:, rest].sum()
    return out


def _top(weights: np.ndarray, k: int) -> tuple[int, ...]:
    """The indices of the `k` largest weights (ties: lower index first), in index order."""
    order = np.argsort(-weights, kind="stable")[:k]
    return tuple(int(i) for i in np.sort(order))


def _count(value: float) -> str:
    return f"{int(value):,}" if float(value).is_integer() else f"{value:,.1f}"
