"""ROC and precision-recall curves, their AUC and average precision, from one sort per class.

Every value is defined exactly as in `sklearn.metrics` (`roc_curve`, `roc_auc_score`,
`precision_recall_curve`, `average_precision_score`), ties included: all samples that share a
score form one step of the curve.
"""

from __future__ import annotations

import sys
import threading
from dataclasses import dataclass

import numpy as np

from epoch_eval.metrics.result import PrecisionRecallCurve, RocCurve, frozen_array

CURVE_SAMPLES = 4000
"""The averaged ROC curves' resolution: a step of 1/4000 in false positive rate."""


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
    order, ends = _descending_runs(score)
    negative_weight = weight[order]
    positive_weight = negative_weight * truth[order]
    negative_weight -= positive_weight
    tps = np.cumsum(positive_weight, out=positive_weight)[ends]
    fps = np.cumsum(negative_weight, out=negative_weight)[ends]
    return RankedCounts(fps, tps, score[order[ends]])


def _descending_runs(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """An order of `values` from the highest down, and where each run of equal values ends
    in it. The order inside a run is irrelevant to every caller (only sums at the run's end
    are kept), so float32 and float16 values are sorted as 64-bit keys, the value's bits made
    orderable in the high half and the position in the low half (NumPy sorts those several
    times faster than `argsort` sorts floats); float64 values by `argsort`."""
    n = len(values)
    if values.dtype not in (np.float32, np.float16) or n >= 2**32 or sys.byteorder != "little":
        order = np.argsort(values)[::-1]
        sorted_values = values[order]
        return order, np.r_[np.flatnonzero(sorted_values[1:] != sorted_values[:-1]), n - 1]
    keys = np.empty(n, dtype=np.uint64)
    halves = keys.view(np.uint32)  # per key: the low half, then the high half
    high = halves[1::2]
    # adding 0.0 turns -0.0 into 0.0, which must tie with it
    np.add(values, np.float32(0.0), out=high.view(np.float32), dtype=np.float32)
    if n and values.min() < 0:  # negative floats order backwards, below the positive ones
        negative = high >= np.uint32(1 << 31)
        np.invert(high, out=high, where=negative)
        np.bitwise_or(high, np.uint32(1 << 31), out=high, where=~negative)
    halves[0::2] = np.arange(n, dtype=np.uint32)
    keys.sort()
    high = halves[1::2][::-1]
    ends = np.append(np.flatnonzero(high[1:] != high[:-1]), n - 1)
    return halves[0::2][::-1].astype(np.intp), ends


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
        order, ends = _descending_runs(scores)  # ties in any order: their weights are summed
        sums = []
        for column in (1, 2):
            weights = np.concatenate([part[column] for part in self._parts])[order]
            np.cumsum(weights, out=weights)
            sums.append(weights[ends])
            del weights
        tps, fps = sums
        return RankedCounts(fps, tps, scores[order[ends]])


def roc_curve(counts: RankedCounts, label: str) -> RocCurve:
    """The ROC curve with scikit-learn's `drop_intermediate=True`, and its AUC."""
    fps, tps = counts.fps, counts.tps
    kept = np.flatnonzero(_corners(fps, tps)) if len(fps) > 2 else np.arange(len(fps))
    fpr, tpr, thresholds = _rates_at(counts, kept)
    defined = counts.positives > 0 and counts.negatives > 0
    auc = float(np.trapezoid(tpr, fpr)) if defined else float("nan")
    return RocCurve(label, frozen_array(fpr), frozen_array(tpr), frozen_array(thresholds), auc)


def _rates_at(counts: RankedCounts,
              kept: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """False and true positive rates and thresholds at the `kept` points (the last point
    among them), after the curve's start at (0, 0) and an infinite threshold; a rate whose
    total is 0 is nan."""
    fpr = _after(0.0, counts.fps, kept)
    tpr = _after(0.0, counts.tps, kept)
    for rate in (fpr, tpr):
        if rate[-1] > 0:
            rate /= rate[-1]
        else:
            rate[:] = np.nan
    return fpr, tpr, _after(np.inf, counts.thresholds, kept)


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
    if len(tps) > 2:
        # keep only the first and last point of each run of equal tps (a vertical segment);
        # every point where recall grows is kept, so the AP's steps are all among them
        grows = np.diff(tps) != 0
        keep = np.empty(len(tps), dtype=bool)
        keep[0] = keep[-1] = True
        np.logical_or(grows[:-1], grows[1:], out=keep[1:-1])
        kept = np.flatnonzero(keep)
        fps, tps, thresholds = fps[kept], tps[kept], thresholds[kept]
    precision = _precision(tps, fps)
    if positives > 0:
        recall = tps / positives
        steps = np.diff(recall, prepend=0.0) * precision
        average_precision = max(0.0, float(np.sum(steps)))
    else:
        recall = np.ones(len(tps))
        average_precision = float("nan")
    total = positives + counts.negatives
    return PrecisionRecallCurve(
        label,
        precision=frozen_array(np.r_[precision[::-1], 1.0]),
        recall=frozen_array(np.r_[recall[::-1], 0.0]),
        thresholds=frozen_array(thresholds[::-1].astype(np.float64)),
        average_precision=average_precision,
        prevalence=positives / total if total > 0 else float("nan"),
    )


def pooled_roc_curve(counts: RankedCounts, label: str) -> RocCurve:
    """The ROC curve of pooled counts (the micro average), as long as `y_score` at most.

    Up to `2 * CURVE_SAMPLES` points it is `roc_curve` exactly. Beyond, its AUC is still
    computed from every point, but the curve keeps only the points where the false or the true
    positive rate first reaches each multiple of `1 / CURVE_SAMPLES` (and the ends): a
    polyline within about `1.5 / CURVE_SAMPLES` of the whole curve, a tenth of a pixel of a
    chart. A curve of millions of points costs time and memory at every epoch and shows no
    more.
    """
    fps, tps = counts.fps, counts.tps
    if len(fps) <= 2 * CURVE_SAMPLES:
        return roc_curve(counts, label)
    negatives, positives = counts.negatives, counts.positives
    defined = positives > 0 and negatives > 0
    auc = _area(fps, tps) / (positives * negatives) if defined else float("nan")
    kept = np.unique(np.r_[
        0, len(fps) - 1,
        np.searchsorted(fps, np.linspace(0.0, negatives, CURVE_SAMPLES + 1)[1:]),
        np.searchsorted(tps, np.linspace(0.0, positives, CURVE_SAMPLES + 1)[1:]),
    ].clip(0, len(fps) - 1))
    fpr, tpr, thresholds = _rates_at(counts, kept)
    return RocCurve(label, frozen_array(fpr), frozen_array(tpr), frozen_array(thresholds), auc)


def _area(fps: np.ndarray, tps: np.ndarray, chunk: int = 1 << 20) -> float:
    """The area of the trapezoids from (0, 0) through every `(fps, tps)` point, in the counts'
    own units; a chunk at a time, as pooled counts are as long as `y_score`."""
    area, last_fps, last_tps = 0.0, 0.0, 0.0
    for start in range(0, len(fps), chunk):
        f = fps[start:start + chunk].astype(np.float64)
        t = tps[start:start + chunk].astype(np.float64)
        width = np.diff(f, prepend=last_fps)
        area += float(np.sum(width * (t + np.r_[last_tps, t[:-1]]))) / 2
        last_fps, last_tps = f[-1], t[-1]
    return area


def macro_roc_curve(curves: tuple[RocCurve, ...]) -> RocCurve:
    """The mean of the defined per-class ROC curves, with the mean of their AUCs.

    This is scikit-learn's recipe (`np.interp` of each curve, averaged) on the union of the
    classes' false positive rates while their curves have at most `CURVE_SAMPLES + 1` points
    together; beyond, on `CURVE_SAMPLES + 1` evenly spaced rates, as the union grows with the
    data (millions of points on a large validation set, for a curve drawn on a thousand
    pixels). Its `auc` is the mean of the per-class AUCs, `roc_auc_score(average="macro")`:
    the value `Evaluation.roc_auc` holds (the area under the averaged curve differs slightly).
    """
    defined = [curve for curve in curves if not np.isnan(curve.auc)]
    if not defined:
        nothing = frozen_array(np.array([np.nan]))
        return RocCurve("macro", nothing, nothing, frozen_array(np.zeros(0)), float("nan"))
    if sum(len(curve.fpr) for curve in defined) <= CURVE_SAMPLES + 1:
        grid = np.unique(np.concatenate([curve.fpr for curve in defined]))
    else:
        grid = np.linspace(0.0, 1.0, CURVE_SAMPLES + 1)
    mean_tpr = np.zeros_like(grid)
    for curve in defined:
        mean_tpr += np.interp(grid, curve.fpr, curve.tpr)
    mean_tpr /= len(defined)
    auc = float(np.mean([curve.auc for curve in defined]))
    return RocCurve("macro", frozen_array(grid), frozen_array(mean_tpr),
                    frozen_array(np.zeros(0)), auc)


def _precision(tps: np.ndarray, fps: np.ndarray) -> np.ndarray:
    predicted = tps + fps
    safe = np.where(predicted == 0, 1.0, predicted)
    return np.where(predicted == 0, 0.0, tps / safe)
