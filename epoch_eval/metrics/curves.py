"""ROC and precision-recall curves, their AUC and average precision, from one sort per class.

Every value is defined as in `sklearn.metrics` (`roc_curve`, `roc_auc_score`,
`precision_recall_curve`, `average_precision_score`), ties included: all samples that share a
score form one step of the curve. ROC curves leave out every collinear point, and the
averaged ROC curves are bounded in size (the README's Definitions).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from epoch_eval.metrics.descending import Descending, Workspace
from epoch_eval.metrics.result import PrecisionRecallCurve, RocCurve, frozen_array

CURVE_SAMPLES = 4000
"""The averaged ROC curves' resolution: a step of 1/4000 in false positive rate."""

_CHUNK = 1 << 20
"""Points of pooled counts (as long as `y_score`) handled at a time, to bound temporaries."""


@dataclass(frozen=True)
class RankedCounts:
    """Cumulative weighted false and true positives at each distinct score, highest first,
    or only at those where a curve can turn (see `Descending.turning_counts`).

    Without weights the counts are integers; `thresholds` keeps the dtype of the scores. The
    curves made from them are float64.
    """

    fps: np.ndarray
    tps: np.ndarray
    thresholds: np.ndarray
    negative_squares: np.ndarray | None = None
    """With weights, when asked for: the squared weights of the negatives counted at each
    point since the previous one (not accumulated); None means each weight is 1."""
    positive_squares: np.ndarray | None = None
    """The same for the positives."""

    @property
    def positives(self) -> float:
        return float(self.tps[-1]) if len(self.tps) else 0.0

    @property
    def negatives(self) -> float:
        return float(self.fps[-1]) if len(self.fps) else 0.0


def rank(truth: np.ndarray, score: np.ndarray, weight: np.ndarray | None,
         workspace: Workspace | None = None, squares: bool = False) -> RankedCounts:
    """Sort by decreasing score and count positives and negatives above each threshold.

    With weights, the points inside a run of scores without positive samples are left out
    (a horizontal stretch of the ROC curve; neither curve keeps them).

    Args:
        truth: `(n,)` booleans, True for the positive class.
        score: `(n,)` scores, higher meaning more positive.
        weight: `(n,)` non-negative sample weights, or None. Zero-weight samples are left out,
            as scikit-learn does.
        workspace: work arrays to reuse (one per thread), when ranking class after class.
        squares: with weights, also sum the squared weights at each point (for intervals).
    """
    if weight is None:
        return count_ranks(score, score[truth])
    ranked, weight = weighted_ranking(truth, score, weight, workspace)
    return weighted_counts(ranked, weight, score.dtype, squares)


def weighted_ranking(truth: np.ndarray, score: np.ndarray, weight: np.ndarray,
                     workspace: Workspace | None = None,
                     ) -> tuple[Descending | None, np.ndarray]:
    """The sort behind `rank()` with weights: the scores of the rows whose weight is not 0,
    highest first (None when there is none), and those rows' weights."""
    keep = weight != 0
    if not keep.all():
        truth, score, weight = truth[keep], score[keep], weight[keep]
    if len(score) == 0:
        return None, weight
    return Descending.of(score, truth, workspace or Workspace()), weight


def weighted_counts(ranked: Descending | None, weight: np.ndarray, dtype: np.dtype,
                    squares: bool = False) -> RankedCounts:
    """`rank()`'s counts of a `weighted_ranking`, thresholds in `dtype` (the scores')."""
    if ranked is None:
        empty = np.zeros(0)
        return RankedCounts(empty, empty, empty, empty if squares else None,
                            empty if squares else None)
    if squares:
        fps, tps, at, negative_squares, positive_squares = ranked.turning_squares(weight)
        return RankedCounts(fps, tps, ranked.scores_at(at).astype(dtype),
                            negative_squares, positive_squares)
    fps, tps, at = ranked.turning_counts(weight)
    return RankedCounts(fps, tps, ranked.scores_at(at).astype(dtype))


def count_ranks(scores: np.ndarray, positive_scores: np.ndarray,
                ascending: np.ndarray | None = None) -> RankedCounts:
    """`rank()` without weights, from sorted values only: no argsort, no gather of labels.

    The number of scores at or above each distinct value comes from where its run starts in
    the sorted scores; the number of positives from where each positive's score falls among
    the distinct values. The counts are integers, int32 where they fit, as the micro
    average's are as long as `y_score`.

    Args:
        scores: every score, of any shape (the pooled `(n, C)` scores for a micro average).
        positive_scores: the scores of the positive samples among them.
        ascending: `scores` already sorted, lowest first, if the caller has them.
    """
    if ascending is None:
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


def roc_curve(counts: RankedCounts, label: str) -> RocCurve:
    """The ROC curve through the points where it turns, and its AUC.

    A point is left out where the curve runs straight on through it (the steps before and
    after it are collinear): the points scikit-learn's `drop_intermediate=True` leaves out,
    and also those inside a straight run of steps of unequal sizes, which it keeps (weighted
    or tied samples). The polyline and the AUC are the same.
    """
    fps, tps = counts.fps, counts.tps
    kept = np.flatnonzero(_turns(fps, tps)) if len(fps) > 2 else np.arange(len(fps))
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


def _turns(fps: np.ndarray, tps: np.ndarray, chunk: int = 1 << 20) -> np.ndarray:
    """Where the ROC curve turns: the steps before and after a point are not collinear (their
    cross product is not 0); the first and last points are kept. Computed a chunk at a time,
    as the micro average's counts are as long as `y_score`. Integer counts are multiplied in
    int64, exactly."""
    wide = np.dtype(np.int64 if np.issubdtype(fps.dtype, np.integer) else np.float64)
    turns = np.ones(len(fps), dtype=bool)
    for start in range(0, len(fps) - 2, chunk):
        df: np.ndarray = np.diff(fps[start:start + chunk + 2].astype(wide, copy=False))
        dt: np.ndarray = np.diff(tps[start:start + chunk + 2].astype(wide, copy=False))
        np.not_equal(df[:-1] * dt[1:], dt[:-1] * df[1:], out=turns[start + 1:start + len(df)])
    return turns


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
    computed from every point, but the curve keeps only its ends and, for each multiple of
    `1 / CURVE_SAMPLES`, the first point where the false or the true positive rate reaches it
    among the points where the curve can turn (a run of negatives is one straight step): a
    polyline within `1 / CURVE_SAMPLES` of the whole curve, a tenth of a pixel of a chart. A
    curve of millions of points costs time and memory at every epoch and shows no more.
    """
    n = len(counts.fps)
    if n <= 2 * CURVE_SAMPLES:
        return roc_curve(counts, label)
    sampler = SampledRoc(counts.negatives, counts.positives)
    for start in range(0, n, _CHUNK):
        stop = min(start + _CHUNK, n)
        at = start + np.flatnonzero(_can_turn(counts.tps, start, stop))
        sampler.add(counts.fps[at], counts.tps[at], at, stop == n)
    return sampler.curve(label, counts.thresholds.__getitem__)


def _can_turn(tps: np.ndarray, start: int, stop: int) -> np.ndarray:
    """Which of the points `start` to `stop` end a step up of `tps` or come just before one,
    the first and last point included; the others lie inside a stretch of negatives."""
    low, high = max(start - 1, 0), min(stop + 1, len(tps))
    window = tps[low:high]
    grows = np.ones(stop - start + 1, dtype=bool)  # grows[i]: the step into point start + i
    offset = low + 1 - start
    np.not_equal(window[1:], window[:-1], out=grows[offset:offset + len(window) - 1])
    return grows[:-1] | grows[1:]


def weighted_pooled_roc_curve(truth: np.ndarray, scores: np.ndarray, weight: np.ndarray,
                              label: str) -> RocCurve:
    """`pooled_roc_curve` of the weighted `(n, C)` scores (the micro average), each score of
    row i weighing `weight[i]`.

    The pooled scores are sorted once with their rows and positive flags (see `Descending`);
    their weights are summed a chunk of whole runs of ties at a time, at the points where the
    curve can turn (`Descending.turning_counts`), and reduced to the kept points and the area
    as they go, so that no array as long as `y_score` is made but the sort's.
    """
    keep = weight != 0
    if not keep.all():
        truth, scores, weight = truth[keep], scores[keep], weight[keep]
    positives = float(np.sum(weight * truth.sum(axis=1)))
    negatives = float(weight.sum()) * scores.shape[1] - positives
    workspace = Workspace()
    ranked = Descending.of(scores, truth, workspace)
    n = len(ranked)
    if n == 0:
        empty = np.zeros(0)
        return roc_curve(RankedCounts(empty, empty, empty), label)
    sampler = (SampledRoc(negatives, positives)
               if ranked.distinct() > 2 * CURVE_SAMPLES else None)
    points: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    start, carry = 0, (0.0, 0.0)
    while start < n:  # chunks of whole runs of ties
        stop = ranked.run_boundary(start + _CHUNK)
        fps, tps, at = ranked.turning_counts(weight, start, stop, carry)
        carry = (fps[-1], tps[-1])
        if sampler is None:
            points.append((fps, tps, at))
        else:
            sampler.add(fps, tps, at, stop == n)
        start = stop
    if sampler is not None:
        return sampler.curve(label, ranked.scores_at)
    fps, tps, at = (np.concatenate(column) for column in zip(*points, strict=True))
    return roc_curve(RankedCounts(fps, tps, ranked.scores_at(at)), label)


class SampledRoc:
    """A sampled pooled ROC curve, fed the points where it can turn a chunk at a time from the
    highest score down: among them it keeps the first where a rate reaches each multiple of
    `1 / CURVE_SAMPLES` of its total (and the ends), and sums the exact area under them all
    (the points left out before lie on straight stretches: the area is the curve's)."""

    def __init__(self, negatives: float, positives: float) -> None:
        self._grids = (np.linspace(0.0, negatives, CURVE_SAMPLES + 1)[1:],
                       np.linspace(0.0, positives, CURVE_SAMPLES + 1)[1:])
        self._last: tuple[float, float] | None = None  # the previous chunk's last point
        self._area = 0.0
        self._kept: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

    def add(self, fps: np.ndarray, tps: np.ndarray, positions: np.ndarray,
            last: bool) -> None:
        """Take the next points, at these `positions` of the ranking; `last` marks the final
        chunk."""
        if len(fps) == 0:
            return
        f, t = fps.astype(np.float64, copy=False), tps.astype(np.float64, copy=False)
        before_f, before_t = (0.0, 0.0) if self._last is None else self._last
        self._area += float(np.sum(np.diff(f, prepend=before_f)
                                   * (t + np.r_[before_t, t[:-1]]))) / 2
        previous = (-np.inf, -np.inf) if self._last is None else self._last
        reached = [np.searchsorted(cumulative, grid[(grid > below) & (grid <= cumulative[-1])])
                   for cumulative, grid, below in zip((f, t), self._grids, previous,
                                                       strict=True)]
        ends = ([0] if self._last is None else []) + ([len(f) - 1] if last else [])
        kept = np.unique(np.concatenate([np.asarray(ends, dtype=np.intp), *reached]))
        self._kept.append((fps[kept], tps[kept], positions[kept]))
        self._last = (f[-1], t[-1])

    def curve(self, label: str,
              thresholds_at: Callable[[np.ndarray], np.ndarray]) -> RocCurve:
        """The sampled curve, with its thresholds read at the kept positions, and its exact
        AUC."""
        fps, tps, at = (np.concatenate(part) for part in zip(*self._kept, strict=True))
        counts = RankedCounts(fps, tps, thresholds_at(at))
        negatives, positives = counts.negatives, counts.positives
        defined = positives > 0 and negatives > 0
        auc = self._area / (positives * negatives) if defined else float("nan")
        fpr, tpr, thresholds = _rates_at(counts, np.arange(len(fps)))
        return RocCurve(label, frozen_array(fpr), frozen_array(tpr), frozen_array(thresholds),
                        auc)


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
