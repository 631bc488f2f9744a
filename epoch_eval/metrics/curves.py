"""ROC and precision-recall curves, their AUC and average precision, from one sort per class.

Every value is defined exactly as in `sklearn.metrics` (`roc_curve`, `roc_auc_score`,
`precision_recall_curve`, `average_precision_score`), ties included: all samples that share a
score form one step of the curve.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from epoch_eval.metrics.result import PrecisionRecallCurve, RocCurve, frozen_array


@dataclass(frozen=True)
class RankedCounts:
    """Cumulative weighted false and true positives at each distinct score, highest first.

    Without weights the counts are integers; `thresholds` keeps the dtype of the scores. The
    curves made from them are float64.
    """

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
    """Sort by decreasing score and count positives and negatives above each threshold.

    Args:
        truth: `(n,)` booleans, True for the positive class.
        score: `(n,)` scores, higher meaning more positive.
        weight: `(n,)` non-negative sample weights, or None. Zero-weight samples are left out,
            as scikit-learn does.
    """
    if weight is None:
        return count_ranks(score, score[truth])
    keep = weight != 0
    if not keep.all():
        truth, score, weight = truth[keep], score[keep], weight[keep]
    if len(score) == 0:
        empty = np.zeros(0)
        return RankedCounts(empty, empty, empty)
    # The order inside a run of tied scores is irrelevant: only the sums at the end of each
    # run are kept, so the fastest (unstable) sort serves.
    order = np.argsort(score)[::-1]
    sorted_score = score[order]
    ends = np.r_[np.flatnonzero(sorted_score[1:] != sorted_score[:-1]), len(score) - 1]
    sorted_weight = weight[order]
    positive_weight = np.where(truth[order], sorted_weight, 0.0)
    tps = np.cumsum(positive_weight)[ends]
    fps = np.cumsum(sorted_weight - positive_weight)[ends]
    return RankedCounts(fps, tps, sorted_score[ends])


def count_ranks(scores: np.ndarray, positive_scores: np.ndarray) -> RankedCounts:
    """`rank()` without weights, from sorted values only: no argsort, no gather of labels.

    The number of scores at or above each distinct value comes from where its run starts in
    the sorted scores; the number of positives from where each positive's score falls among
    the distinct values. The counts are integers, int32 where they fit, as the micro
    average's are as long as `y_score`.

    Args:
        scores: every score, of any shape (the pooled `(n, C)` scores for a micro average).
        positive_scores: the scores of the positive samples among them.
    """
    ascending = np.sort(scores, axis=None)
    n = len(ascending)
    if n == 0:
        empty = np.zeros(0, dtype=np.int64)
        return RankedCounts(empty, empty, ascending)
    count_type = np.int32 if n < 2**31 else np.int64
    starts_run = np.empty(n, dtype=bool)
    starts_run[0] = True
    np.not_equal(ascending[1:], ascending[:-1], out=starts_run[1:])
    first = np.flatnonzero(starts_run)
    del starts_run
    values = ascending[first]
    del ascending  # the largest temporary, a copy of the scores
    first = first.astype(count_type, copy=False)
    at_value = np.searchsorted(values, np.sort(positive_scores))
    # From the highest value down (reversed views, summed in place to spare memory):
    # positives at or above each value, then all samples at or above it less the positives.
    tps = np.bincount(at_value, minlength=len(values)).astype(count_type)[::-1]
    np.cumsum(tps, out=tps)
    fps = np.subtract(n, first, out=first)[::-1]
    fps -= tps
    return RankedCounts(fps, tps, values[::-1])


class PooledCounts:
    """The weighted counts of every `(sample, class)` pair pooled (the micro average), summed
    from each class's `RankedCounts` instead of sorting the pooled scores with their weights.

    `add()` keeps each class's weight of positives and negatives at each of its distinct
    scores (it may be called from several threads); `ranked()` sorts those scores together
    once, sums the weights of equal scores and accumulates them from the highest score down.
    """

    def __init__(self) -> None:
        self._parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self._lock = threading.Lock()

    def add(self, counts: RankedCounts) -> None:
        """Add one class's counts."""
        part = (counts.thresholds, np.diff(counts.tps, prepend=0.0),
                np.diff(counts.fps, prepend=0.0))
        with self._lock:
            self._parts.append(part)

    def ranked(self) -> RankedCounts:
        """The pooled `RankedCounts`."""
        scores = np.concatenate([scores for scores, _, _ in self._parts])
        if len(scores) == 0:  # every weight is 0
            empty = np.zeros(0)
            return RankedCounts(empty, empty, empty)
        order = np.argsort(scores)[::-1]  # ties in any order: their weights are summed
        scores = scores[order]
        ends = np.r_[np.flatnonzero(scores[1:] != scores[:-1]), len(scores) - 1]
        sums = []
        for column in (1, 2):
            weights = np.concatenate([part[column] for part in self._parts])[order]
            sums.append(np.cumsum(weights)[ends])
        tps, fps = sums
        return RankedCounts(fps, tps, scores[ends])


def roc_curve(counts: RankedCounts, label: str) -> RocCurve:
    """The ROC curve with scikit-learn's `drop_intermediate=True`, and its AUC."""
    fps, tps = counts.fps, counts.tps
    kept = np.flatnonzero(_corners(fps, tps)) if len(fps) > 2 else np.arange(len(fps))
    # the curve starts at (0, 0), at an infinite threshold
    fpr = _after(0.0, fps, kept)
    tpr = _after(0.0, tps, kept)
    thresholds = _after(np.inf, counts.thresholds, kept)
    for rate in (fpr, tpr):
        if rate[-1] > 0:
            rate /= rate[-1]
        else:
            rate[:] = np.nan
    defined = counts.positives > 0 and counts.negatives > 0
    auc = float(np.trapezoid(tpr, fpr)) if defined else float("nan")
    return RocCurve(label, frozen_array(fpr), frozen_array(tpr), frozen_array(thresholds), auc)


def _after(start: float, values: np.ndarray, kept: np.ndarray) -> np.ndarray:
    """`np.r_[start, values[kept]]` in float64, without a second copy of the kept values."""
    out = np.empty(len(kept) + 1)
    out[0] = start
    out[1:] = values[kept]
    return out


def _corners(fps: np.ndarray, tps: np.ndarray, chunk: int = 1 << 20) -> np.ndarray:
    """Where the ROC curve turns: scikit-learn's `np.diff(fps, 2) or np.diff(tps, 2)`, with the
    first and last points kept. Computed a chunk at a time, as the micro average's counts
    are as long as `y_score`."""
    corners = np.ones(len(fps), dtype=bool)
    turns = corners[1:-1]
    turns[:] = False
    for start in range(0, len(turns), chunk):
        for cumulative in (fps, tps):
            step = np.diff(cumulative[start:start + chunk + 2])
            turns[start:start + chunk] |= step[1:] != step[:-1]  # a - b != 0 iff a != b
    return corners


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
        thresholds=frozen_array(thresholds[::-1].astype(np.float64)),
        average_precision=average_precision,
        prevalence=positives / total if total > 0 else float("nan"),
    )


def macro_roc_curve(curves: tuple[RocCurve, ...]) -> RocCurve:
    """The mean of the defined per-class ROC curves, on the union of their false positive rates.

    This is scikit-learn's recipe for a macro-averaged ROC curve (`np.interp` of each curve on
    the union grid, averaged); its `auc` is the area under the averaged curve, which differs
    slightly from the mean of the per-class AUCs.
    """
    defined = [curve for curve in curves if not np.isnan(curve.auc)]
    if not defined:
        nothing = frozen_array(np.array([np.nan]))
        return RocCurve("macro", nothing, nothing, frozen_array(np.zeros(0)), float("nan"))
    grid, mean_tpr = _sum_on_grid([(curve.fpr, curve.tpr) for curve in defined])
    mean_tpr /= len(defined)
    auc = float(np.trapezoid(mean_tpr, grid))
    return RocCurve("macro", frozen_array(grid), frozen_array(mean_tpr),
                    frozen_array(np.zeros(0)), auc)


def _sum_on_grid(lines: list[tuple[np.ndarray, np.ndarray]],
                 block: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """The union `grid` of the lines' `x`, and `sum(np.interp(grid, x, y) for x, y in lines)`,
    in time linear in the points (after one sort).

    Each `x` is sorted and starts at the grid's first value. Each line is linear between its
    distinct `x`, and may jump at one (a repeated `x`: `np.interp` takes the last `y` there).
    So the sum is walked along the grid: its slope changes, and it jumps, only at the lines'
    points. The walk restarts every `block` grid points from the exact sum and slope there,
    which bounds the rounding of the running sums.
    """
    points, slope_changes, jumps = [], [], []
    for x, y in lines:
        last = np.r_[x[1:] != x[:-1], True]
        first = np.r_[True, last[:-1]]
        distinct, y_last, y_first = x[last], y[last], y[first]
        slopes = np.zeros(len(distinct))  # from each distinct x to the next; 0 after the last
        slopes[:-1] = (y_first[1:] - y_last[:-1]) / np.diff(distinct)
        points.append(distinct)
        slope_changes.append(np.diff(slopes, prepend=0.0))
        jumps.append(y_last - y_first)
    all_points = np.concatenate(points)
    points.clear()
    order = np.argsort(all_points)  # ties in any order: their changes are summed
    all_points = all_points[order]
    starts = np.flatnonzero(np.r_[True, all_points[1:] != all_points[:-1]])
    grid = all_points[starts]
    del all_points
    sums = []
    for changes in (slope_changes, jumps):
        joined = np.concatenate(changes)
        changes.clear()
        sums.append(np.add.reduceat(joined[order], starts))
        del joined
    slope_change, jump = sums
    del order, starts
    n = len(grid)
    anchors = grid[::block]
    at_anchor = np.zeros(len(anchors))
    slope_at_anchor = np.zeros(len(anchors))
    for x, y in lines:
        # the segment from the last point at or before each anchor to the next point
        left = np.searchsorted(x, anchors, side="right") - 1
        inside = left < len(x) - 1
        right = np.minimum(left + 1, len(x) - 1)
        slope_at_anchor += np.where(inside, (y[right] - y[left]) / np.where(
            inside, x[right] - x[left], 1.0), 0.0)
        at_anchor += np.interp(anchors, x, y)
    # one row per block: the slope over each grid interval, then the sum at each grid point
    padded = -(-n // block) * block
    slope = np.zeros((padded // block, block))
    slope.reshape(-1)[:n] = slope_change
    slope[:, 0] = slope_at_anchor
    np.cumsum(slope, axis=1, out=slope)
    step = np.zeros((padded // block, block))
    flat_step = step.reshape(-1)  # a view
    flat_step[:n - 1] = np.diff(grid)
    flat_step *= slope.reshape(-1)
    flat_step[:n - 1] += jump[1:]
    total = np.empty_like(step)
    total[:, 0] = at_anchor
    np.cumsum(step[:, :-1], axis=1, out=total[:, 1:])
    total[:, 1:] += at_anchor[:, None]
    return grid, total.reshape(-1)[:n]


def _precision(tps: np.ndarray, fps: np.ndarray) -> np.ndarray:
    predicted = tps + fps
    safe = np.where(predicted == 0, 1.0, predicted)
    return np.where(predicted == 0, 0.0, tps / safe)
