"""The immutable result objects that `evaluate()` returns and every sink and chart consumes."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

Task = Literal["binary", "multiclass", "multilabel"]

SCALAR_NAMES: tuple[str, ...] = ("f1", "precision", "recall", "accuracy", "roc_auc", "pr_auc")

_html_view: Callable[[Evaluation], str] | None = None


def set_html_view(view: Callable[[Evaluation], str] | None) -> None:
    """Set the function behind `Evaluation._repr_html_` (None: no HTML view).

    The view draws charts, which this module, at the bottom of the layers, must not import:
    the package's top (`epoch_eval/__init__.py`, which runs before any of its modules) sets it
    to `epoch_eval.sinks.notebook_html.evaluation_html`, loaded on first use.
    """
    global _html_view
    _html_view = view


def frozen_array(values: np.ndarray) -> np.ndarray:
    """Return `values` as an array that cannot be written to."""
    array = np.asarray(values)
    array.flags.writeable = False
    return array


@dataclass(frozen=True)
class RocCurve:
    """One ROC curve, the points of `sklearn.metrics.roc_curve` where the curve turns (it
    leaves out every collinear point, where scikit-learn's `drop_intermediate=True` leaves out
    those between equal steps); the micro and macro averages are bounded in size (see the
    README's Definitions).

    Attributes:
        label: what the curve is for: a class name, `"micro"` or `"macro"`.
        fpr, tpr: false and true positive rates, increasing.
        thresholds: decreasing score thresholds, the first one `inf` (empty for `"macro"`).
        auc: the area under the curve; nan where the class has no positives or no negatives.
        auc_error_bound: a certified bound on `|auc - exact AUC|` when the curve comes from
            binned scores (`Tally`); 0 when it is exact.
    """

    label: str
    fpr: np.ndarray
    tpr: np.ndarray
    thresholds: np.ndarray
    auc: float
    auc_error_bound: float = 0.0


@dataclass(frozen=True)
class PrecisionRecallCurve:
    """One precision-recall curve, as `sklearn.metrics.precision_recall_curve` returns it
    (with `drop_intermediate=True`), and its average precision.

    Attributes:
        label: the class name.
        precision, recall: recall decreasing to 0, where precision is 1.
        thresholds: increasing score thresholds (one fewer than points).
        average_precision: `average_precision_score`; nan where the class has no positives.
        prevalence: the weighted fraction of positives, the precision of a random ranking.
    """

    label: str
    precision: np.ndarray
    recall: np.ndarray
    thresholds: np.ndarray
    average_precision: float
    prevalence: float


@dataclass(frozen=True)
class PerClassMetrics:
    """Per-class (per-label for multilabel) metrics, arrays aligned with `names`.

    For binary tasks both classes are listed, as `precision_recall_fscore_support` does.
    `support` is the weighted count of true samples of each class.
    """

    names: tuple[str, ...]
    precision: np.ndarray
    recall: np.ndarray
    f1: np.ndarray
    support: np.ndarray


@dataclass(frozen=True)
class ConfusedPair:
    """One cell off the diagonal of a confusion matrix: `count` weighted samples of class
    `true` predicted as `predicted`; `rate` is `count` over the true class' support (the
    row-normalised rate that the confusion-matrix chart shows)."""

    true: str
    predicted: str
    count: float
    rate: float


@dataclass(frozen=True)
class Evaluation:
    """Whole-dataset classification metrics, curves and confusion matrix.

    Built by `epoch_eval.evaluate()`; every array is read-only.

    Attributes:
        task: `"binary"`, `"multiclass"` or `"multilabel"`.
        n_samples: number of rows evaluated.
        class_names: one name per class (per label for multilabel).
        threshold: decision threshold on probabilities (binary and multilabel).
        average: the averaging mode of `f1`, `precision` and `recall`.
        f1, precision, recall, accuracy, roc_auc, pr_auc: the headline values.
        confusion_matrix: `(C, C)` (rows true, columns predicted) or, for multilabel,
            `(L, 2, 2)` as `sklearn.metrics.multilabel_confusion_matrix`.
        per_class: per-class precision, recall, F1 and support.
        roc_curves: one ROC curve per class (binary: the positive class only).
        roc_micro, roc_macro: averaged ROC curves (None for binary).
        pr_curves: one precision-recall curve per class (binary: the positive class only).
        undefined_reason: why the metrics are nan, when they could not be computed at all
            (for instance the model predicted NaN); None for a normal evaluation.
        roc_auc_error_bound: a certified bound on `|roc_auc - exact value|` when the scores
            were binned (`Tally`); 0 when `roc_auc` is exact.
        confidence: the confidence level of `intervals` (e.g. 0.95); None when off.
        intervals: each of `SCALAR_NAMES` -> `(low, high)` Python floats with
            `low <= value <= high` (nan where the value is nan); None when off.
        per_class_intervals: `"precision"`, `"recall"`, `"f1"` -> `(C, 2)` arrays of
            `(low, high)` per class, aligned with `per_class.names`; None when off.
        churn: the weighted fraction of validation rows (multilabel: row-label pairs) whose
            predicted label changed since the previous evaluated epoch; None at the first
            epoch, in tally mode, and when rows cannot be matched.
        best_threshold: binary: the score threshold that maximises F1 on this set (a float);
            multilabel: one per label (an array); None for multiclass.
        f1_at_best_threshold: the F1 at `best_threshold` (optimistic: chosen and measured on
            the same rows); float or per-label array as `best_threshold`.
        f1_at_best_threshold_heldout: an honest estimate: the threshold chosen on one half of
            the rows and F1 measured on the other, both ways, averaged; None where no rows are
            kept (tally mode).
        standard_errors: each of `SCALAR_NAMES` -> the standard error behind its interval
            (what `intervals.unpaired_gain` compares); None when off.
    """

    task: Task
    n_samples: int
    class_names: tuple[str, ...]
    threshold: float
    average: str
    f1: float
    precision: float
    recall: float
    accuracy: float
    roc_auc: float
    pr_auc: float
    confusion_matrix: np.ndarray
    per_class: PerClassMetrics
    roc_curves: tuple[RocCurve, ...] = ()
    roc_micro: RocCurve | None = None
    roc_macro: RocCurve | None = None
    pr_curves: tuple[PrecisionRecallCurve, ...] = ()
    undefined_reason: str | None = field(default=None)
    roc_auc_error_bound: float = 0.0
    confidence: float | None = None
    intervals: Mapping[str, tuple[float, float]] | None = None
    per_class_intervals: Mapping[str, np.ndarray] | None = None
    churn: float | None = None
    best_threshold: float | np.ndarray | None = None
    f1_at_best_threshold: float | np.ndarray | None = None
    f1_at_best_threshold_heldout: float | np.ndarray | None = None
    standard_errors: Mapping[str, float] | None = None

    @property
    def is_defined(self) -> bool:
        """False when the metrics could not be computed (see `undefined_reason`)."""
        return self.undefined_reason is None

    def confused_pairs(self, k: int = 10) -> tuple[ConfusedPair, ...]:
        """The `k` most confused `(true, predicted)` class pairs, most weight first.

        Binary and multiclass only: pairs off the diagonal of `confusion_matrix` with a
        non-zero count, ordered by count (ties: by true class, then predicted class, in class
        order). A multilabel evaluation has no pairs of classes (each label is its own 2x2
        matrix) and returns `()`, as does an undefined one.

        Args:
            k: how many pairs at most, a positive integer.

        Returns:
            Up to `k` `ConfusedPair(true, predicted, count, rate)` (count and rate Python
            floats).

        Raises:
            ValueError: when `k` is not a positive integer.

        Example:
            >>> evaluation.confused_pairs(3)[0]
            ConfusedPair(true='cat', predicted='dog', count=12.0, rate=0.08)
        """
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"Invalid `k` argument value. It should be a positive integer. "
                             f"Received: k={k!r}")
        if self.task == "multilabel" or not self.is_defined:
            return ()
        matrix = np.nan_to_num(np.asarray(self.confusion_matrix, dtype=np.float64))
        support = matrix.sum(axis=1)
        off = matrix.copy()
        np.fill_diagonal(off, 0.0)
        flat = np.flatnonzero(off)  # increasing: a stable sort breaks ties in class order
        top = flat[np.argsort(-off.ravel()[flat], kind="stable")[:k]]
        n = len(matrix)
        return tuple(ConfusedPair(self.class_names[i // n], self.class_names[i % n],
                                  float(off.flat[i]), float(off.flat[i] / support[i // n]))
                     for i in (int(index) for index in top))

    def _repr_html_(self) -> str | None:
        """The evaluation as HTML, for Jupyter: its values in a table and its charts as inline
        PNGs, so that an evaluation left last in a cell renders. The view comes from a layer
        above this one (see `set_html_view`); without one, None, and Jupyter shows the repr."""
        return None if _html_view is None else _html_view(self)

    def scalars(self) -> dict[str, float]:
        """The headline metrics as plain Python floats, keyed by their names."""
        return {name: float(getattr(self, name)) for name in SCALAR_NAMES}

    @classmethod
    def undefined(
        cls,
        *,
        task: Task,
        n_samples: int,
        class_names: tuple[str, ...],
        threshold: float,
        average: str,
        reason: str,
    ) -> Evaluation:
        """An evaluation whose every metric is nan, for an epoch that could not be scored."""
        n = len(class_names)
        shape = (n, 2, 2) if task == "multilabel" else (n, n)
        nan_per_class = frozen_array(np.full(n, np.nan))
        return cls(
            task=task,
            n_samples=n_samples,
            class_names=class_names,
            threshold=threshold,
            average=average,
            f1=float("nan"), precision=float("nan"), recall=float("nan"),
            accuracy=float("nan"), roc_auc=float("nan"), pr_auc=float("nan"),
            confusion_matrix=frozen_array(np.full(shape, np.nan)),
            per_class=PerClassMetrics(
                class_names, nan_per_class, nan_per_class, nan_per_class, nan_per_class
            ),
            undefined_reason=reason,
        )
