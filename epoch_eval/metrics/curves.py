"""ROC and precision-recall curves, their AUC and average precision, from one sort per class.

Every value is defined exactly as in `sklearn.metrics` (`roc_curve`, `roc_auc_score`,
`precision_recall_curve`, `average_precision_score`), ties included: all samples that share a
score form one step of the curve.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from epoch_eval.metrics.result import PrecisionRecallCurve, RocCurve, frozen_array


@dataclass(frozen=True)
class RankedCounts:
    """Cumulative weighted false and true positives at each distinct score, highest first."""

    fps: np.ndarray
    tps: np.ndarray
    thresholds: np.ndarray

    @property
    def positives(self) -> float:
        return float(self.tps[-1]) if len(self.tps) else 0.0

    @property
    def negatives(self) -> float:
        return float(self.fps[-1]) if len(self.fps) else 0.0


def rank(truth: np.ndarray, score: np.ndarray, weight: np.ndarray | None) -> RankedCounts:
    """Sort once by decreasing score and count positives and negatives above each threshold.

    Args:
        truth: `(n,)` booleans, True for the positive class.
        score: `(n,)` scores, higher meaning more positive.
        weight: `(n,)` non-negative sample weights, or None. Zero-weight samples are left out,
            as scikit-learn does.
    """
    if weight is not None:
        keep = weight != 0
        truth, score, weight = truth[keep], score[keep], weight[keep]
    # The order inside a run of tied scores is irrelevant: only the counts at the end of each
    # run are kept, so the fastest (unstable) sort serves.
    if len(score) == 0:
        empty = np.zeros(0)
        return RankedCounts(empty, empty, empty)
    order = np.argsort(score)[::-1]
    sorted_score = score[order]
    sorted_truth = truth[order]
    ends = np.r_[np.flatnonzero(np.diff(sorted_score)), len(sorted_score) - 1]
    if weight is None:
        tps = np.cumsum(sorted_truth, dtype=np.float64)[ends]
        fps = 1.0 + ends - tps
    else:
        sorted_weight = weight[order]
        positive_weight = np.where(sorted_truth, sorted_weight, 0.0)
        tps = np.cumsum(positive_weight)[ends]
        fps = np.cumsum(sorted_weight - positive_weight)[ends]
    return RankedCounts(fps, tps, sorted_score[ends].astype(np.float64))


def roc_curve(counts: RankedCounts, label: str) -> RocCurve:
    """The ROC curve with scikit-learn's `drop_intermediate=True`, and its AUC."""
    fps, tps, thresholds = counts.fps, counts.tps, counts.thresholds
    if len(fps) > 2:
        corners = np.r_[True, np.logical_or(np.diff(fps, 2), np.diff(tps, 2)), True]
        fps, tps, thresholds = fps[corners], tps[corners], thresholds[corners]
    fps, tps = np.r_[0.0, fps], np.r_[0.0, tps]
    thresholds = np.r_[np.inf, thresholds]
    fpr = fps / fps[-1] if fps[-1] > 0 else np.full(fps.shape, np.nan)
    tpr = tps / tps[-1] if tps[-1] > 0 else np.full(tps.shape, np.nan)
    defined = counts.positives > 0 and counts.negatives > 0
    auc = float(np.trapezoid(tpr, fpr)) if defined else float("nan")
    return RocCurve(label, frozen_array(fpr), frozen_array(tpr), frozen_array(thresholds), auc)


def precision_recall_curve(counts: RankedCounts, label: str) -> PrecisionRecallCurve:
    """The precision-recall curve (`drop_intermediate=True`) and the average precision.

    Average precision is the step integral over every threshold, `sum((R_i - R_{i-1}) P_i)`;
    it is nan where the class has no positives.
    """
    fps, tps, thresholds = counts.fps, counts.tps, counts.thresholds
    positives = counts.positives
    precision = _precision(tps, fps)
    if positives > 0:
        recall = tps / positives
        steps = np.diff(recall, prepend=0.0) * precision
        average_precision = max(0.0, float(np.sum(steps)))
    else:
        recall = np.ones_like(tps)
        average_precision = float("nan")
    if len(tps) > 2:
        # keep only the first and last point of each run of equal tps (a vertical segment)
        keep = np.r_[True, np.logical_or(np.diff(tps[:-1]), np.diff(tps[1:])), True]
        precision, recall, thresholds = precision[keep], recall[keep], thresholds[keep]
    total = positives + counts.negatives
    return PrecisionRecallCurve(
        label,
        precision=frozen_array(np.r_[precision[::-1], 1.0]),
        recall=frozen_array(np.r_[recall[::-1], 0.0]),
        thresholds=frozen_array(thresholds[::-1].copy()),
        average_precision=average_precision,
        prevalence=positives / total if total > 0 else float("nan"),
    )


def macro_roc_curve(curves: tuple[RocCurve, ...]) -> RocCurve:
    """The mean of the defined per-class ROC curves, on the union of their false positive rates.

    This is scikit-learn's recipe for a macro-averaged ROC curve; its `auc` is the area under
    the averaged curve, which differs slightly from the mean of the per-class AUCs.
    """
    defined = [curve for curve in curves if not np.isnan(curve.auc)]
    if not defined:
        nothing = frozen_array(np.array([np.nan]))
        return RocCurve("macro", nothing, nothing, frozen_array(np.zeros(0)), float("nan"))
    grid = np.unique(np.concatenate([curve.fpr for curve in defined]))
    mean_tpr = np.zeros_like(grid)
    for curve in defined:
        mean_tpr += np.interp(grid, curve.fpr, curve.tpr)
    mean_tpr /= len(defined)
    auc = float(np.trapezoid(mean_tpr, grid))
    return RocCurve("macro", frozen_array(grid), frozen_array(mean_tpr),
                    frozen_array(np.zeros(0)), auc)


def _precision(tps: np.ndarray, fps: np.ndarray) -> np.ndarray:
    predicted = tps + fps
    safe = np.where(predicted == 0, 1.0, predicted)
    return np.where(predicted == 0, 0.0, tps / safe)
