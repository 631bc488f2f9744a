"""An `Evaluation` from a tally: a weighted confusion matrix and per-class score histograms.

The threshold metrics come from the confusion matrix, so they are exact. The ranking metrics
come from histograms of positive and negative scores in bins: the curves have one point per
occupied bin edge, and the ROC AUC treats the pairs that share a bin as ties. Its error is at
most `0.5 * sum_b(P_b * N_b) / (P * N)` (each such pair counts 1/2 instead of 0 or 1), the
certified bound reported beside it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from epoch_eval.metrics import best_threshold, curves, intervals
from epoch_eval.metrics.counting import from_confusion_matrix, from_multilabel_matrix
from epoch_eval.metrics.evaluate import assemble_evaluation
from epoch_eval.metrics.influence import rank_influence
from epoch_eval.metrics.result import (
    Evaluation,
    PrecisionRecallCurve,
    RocCurve,
    Task,
)


@dataclass(frozen=True)
class BinnedCounts:
    """What a tally holds after a pass over the data.

    Attributes:
        task, class_names, threshold, average: as in `Evaluation`.
        n_samples: rows counted (rows of weight 0 are not).
        confusion_matrix: weighted `(C, C)` (rows true) or, for multilabel, `(L, 2, 2)`.
        subset_correct: multilabel only: the weight of rows with every label right.
        positives, negatives: `(K, B)` weighted counts of positive and negative scores in each
            of B bins, lowest bin first; K is 1 for binary (the positive class), else C.
        bin_floors: `(B,)` the lowest score (probability) each bin holds, increasing; the
            first is 0.
    """

    task: Task
    class_names: tuple[str, ...]
    threshold: float
    average: str
    n_samples: int
    confusion_matrix: np.ndarray
    subset_correct: float
    positives: np.ndarray
    negatives: np.ndarray
    bin_floors: np.ndarray


def auc_error_bound(positives: np.ndarray, negatives: np.ndarray) -> float:
    """The certified bound on the error of a binned ROC AUC; nan where the AUC is undefined."""
    p, n = float(positives.sum()), float(negatives.sum())
    if p <= 0 or n <= 0:
        return float("nan")
    return 0.5 * float(positives @ negatives) / (p * n)


def binned_ranked_counts(positives: np.ndarray, negatives: np.ndarray,
                         bin_floors: np.ndarray,
                         mean_weight: float | None = None) -> curves.RankedCounts:
    """Cumulative counts from the highest occupied bin down, as `curves.rank` gives them;
    with a `mean_weight`, each bin's squared weights estimated as its weight times it."""
    occupied = (positives > 0) | (negatives > 0)
    order = np.flatnonzero(occupied)[::-1]
    in_order = (np.asarray(negatives[order], dtype=np.float64),
                np.asarray(positives[order], dtype=np.float64))
    squares = (None, None) if mean_weight is None else tuple(c * mean_weight for c in in_order)
    return curves.RankedCounts(np.cumsum(in_order[0]), np.cumsum(in_order[1]),
                               bin_floors[order], *squares)


def binned_curves(label: str, positives: np.ndarray, negatives: np.ndarray,
                  bin_floors: np.ndarray) -> tuple[RocCurve, PrecisionRecallCurve]:
    """One class's ROC curve (with its AUC's error bound) and precision-recall curve."""
    counts = binned_ranked_counts(positives, negatives, bin_floors)
    roc = curves.roc_curve(counts, label)
    roc = RocCurve(roc.label, roc.fpr, roc.tpr, roc.thresholds, roc.auc,
                   auc_error_bound(positives, negatives))
    return roc, curves.precision_recall_curve(counts, label)


def evaluate_binned(counts: BinnedCounts, confidence: float | None = None) -> Evaluation:
    """Build the `Evaluation` of a tally: exact threshold metrics, binned curves and AUC.

    Per-class values where a class has no positive (or no negative) sample are nan and left
    out of the averages, as in `evaluate()`, without a warning. The best threshold is the
    floor of an occupied bin (every score from that bin up is positive); no held-out
    estimate, as no rows are kept.

    Args:
        counts: the tally's counts.
        confidence: a level such as 0.95 to fill the intervals and standard errors from the
            counts alone (`intervals.binned_intervals` says what is approximated); None
            (default) for none.

    Raises:
        ValueError: for a confidence outside (0, 1).
    """
    level = intervals.check_confidence(confidence)
    matrix = np.asarray(counts.confusion_matrix, dtype=np.float64)
    if counts.task == "multilabel":
        total = float(matrix[0].sum()) if len(matrix) else 0.0
        subset = counts.subset_correct / total if total > 0 else 0.0
        metrics = from_multilabel_matrix(matrix, subset, counts.average)
    else:
        metrics = from_confusion_matrix(matrix, counts.average)
    names = counts.class_names
    ranked = (names[1],) if counts.task == "binary" else names
    per_class = [binned_curves(name, counts.positives[k], counts.negatives[k],
                               counts.bin_floors) for k, name in enumerate(ranked)]
    roc = tuple(r for r, _ in per_class)
    pr = tuple(p for _, p in per_class)
    micro = None
    if counts.task != "binary":
        pooled_pos, pooled_neg = counts.positives.sum(axis=0), counts.negatives.sum(axis=0)
        micro = binned_curves("micro", pooled_pos, pooled_neg, counts.bin_floors)[0]
    best = best_threshold.of_task(counts.task, [best_threshold.best_f1(binned_ranked_counts(
        counts.positives[k], counts.negatives[k], counts.bin_floors)) for k in range(len(ranked))],
        heldout=None)
    evaluation, _ = assemble_evaluation(
        task=counts.task, n_samples=int(counts.n_samples), class_names=names,
        threshold=counts.threshold, average=counts.average, counts=metrics,
        confusion_matrix=_integral(matrix), roc=roc, roc_micro=micro, pr=pr, best=best)
    if level is not None:
        multilabel = counts.task == "multilabel"
        scale = intervals.mean_weight(matrix, int(counts.n_samples), multilabel)
        influences = [rank_influence(binned_ranked_counts(
            counts.positives[k], counts.negatives[k], counts.bin_floors, scale))
            for k in range(len(ranked))]
        evaluation = intervals.binned_intervals(
            metrics, counts.average, int(counts.n_samples), influences, level,
            multilabel=multilabel).apply(evaluation)
    return evaluation


def logit_bin_floors(bins: int, logit_range: float) -> np.ndarray:
    """The lowest probability each of `bins` bins holds, for bins evenly spaced in logit space
    over `[-logit_range, logit_range]` with one open bin at each end."""
    edges = np.linspace(-logit_range, logit_range, bins - 1)
    return np.r_[0.0, 1.0 / (1.0 + np.exp(-edges))]


def _integral(matrix: np.ndarray) -> np.ndarray:
    """Counts as int64 when they are whole numbers (no weights), as `evaluate()` gives them."""
    if np.all(matrix == np.rint(matrix)) and np.all(np.abs(matrix) < 2**53):
        return matrix.astype(np.int64)
    return matrix


def check_bins(bins: int) -> int:
    """Refuse a bin count that cannot make a histogram."""
    if not isinstance(bins, int) or isinstance(bins, bool) or not 4 <= bins <= 1 << 16:
        raise ValueError(f"`bins` must be an integer between 4 and 65536. Received: bins={bins!r}")
    return bins

