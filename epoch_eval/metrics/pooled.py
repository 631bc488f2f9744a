"""The weighted micro-average ROC curve summed from the classes' own rankings, without a sort of
every (row, class) score.

The pooled curve can turn only at a pooled positive's score and at the next higher score
(`Descending.turning_counts`). With at most one positive per row (multiclass), those points are
few: each class's ranking, sorted anyway for its own curves, gives by one search the weight of
its negatives at or above each point, and the pooled counts are their sums over the classes
(the positives' weights are summed once, from the positive scores alone). At 50,000 x 1,000
this replaces a sort of 50 million 64-bit keys (about 4 s of CPU and 400 MB here) by 1,000
searches of 50,000 values. Used where the pooled curve is sampled (more than
`2 * CURVE_SAMPLES` distinct positive scores); elsewhere `curves.weighted_pooled_roc_curve`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from epoch_eval.metrics import curves
from epoch_eval.metrics.descending import Descending
from epoch_eval.metrics.result import RocCurve


@dataclass(frozen=True)
class ClassPart:
    """One class's share of the pooled counts at each of `PooledCounts.points`."""

    negatives_at: np.ndarray
    """The weight of its negatives scored at or above each point."""
    tied: np.ndarray
    """The points that some of its scores equal."""
    tied_negatives: np.ndarray
    """At those points, the weight of its negatives scored exactly there."""
    next_above: np.ndarray
    """Its lowest score above each point, as its ranking's `keys_of` has it; where there is
    none, a key larger than any score's (which decodes to nan or inf)."""


class PooledCounts:
    """The pooled counts of a weighted micro average, summed class by class.

    Make it with `plan`, give each class's ranking to `part` (any thread), `add` the parts in
    class order (the sums are then the same on any number of threads), then take the `curve`.
    """

    def __init__(self, points: np.ndarray, positive_scores: np.ndarray,
                 positive_weights: np.ndarray, negatives: float, positives: float) -> None:
        self.points = points  # the lowest score, the distinct positive scores, the top score
        self._totals = (negatives, positives)
        # the positives' weight at or above each point, and above it: summed once, here
        descending = np.argsort(positive_scores)[::-1]
        sums = np.r_[0.0, np.cumsum(positive_weights[descending])]
        ascending = positive_scores[descending[::-1]]
        self._positives_at = sums[len(ascending) - np.searchsorted(ascending, points)]
        self._positives_above = sums[len(ascending)
                                     - np.searchsorted(ascending, points, side="right")]
        self._negatives_at = np.zeros(len(points))
        self._tied_negatives = np.zeros(len(points))
        self._keys: np.ndarray | None = None  # the points as the rankings' keys
        self._scores_of: Callable[[np.ndarray], np.ndarray] | None = None  # keys -> scores
        self._next_above: np.ndarray | None = None

    @classmethod
    def plan(cls, truth: np.ndarray, scores: np.ndarray,
             weight: np.ndarray) -> PooledCounts | None:
        """The pooled counts to sum for `(n, C)` scores with these booleans and weights, or None
        where one sort of the pooled scores is the better way (more positives than rows, or a
        curve short enough to keep every point)."""
        keep = weight != 0
        if not keep.all():
            truth, scores, weight = truth[keep], scores[keep], weight[keep]
        if len(scores) == 0 or np.count_nonzero(truth) > len(scores):
            return None
        dtype = np.float64 if scores.dtype == np.float64 else np.float32
        rows, columns = np.nonzero(truth)
        positive_scores = scores[rows, columns].astype(dtype)
        points = np.unique(positive_scores)
        if len(points) <= 2 * curves.CURVE_SAMPLES:
            return None
        # the totals as `curves.weighted_pooled_roc_curve` has them: the sampled curve's grid
        positives = float(np.sum(weight * truth.sum(axis=1)))
        negatives = float(weight.sum()) * scores.shape[1] - positives
        points = np.concatenate([[scores.min()], points, [scores.max()]]).astype(dtype)
        return cls(points, positive_scores, weight[rows], negatives, positives)

    def part(self, ranked: Descending, weight: np.ndarray) -> ClassPart:
        """One class's share, from its ranking (`curves.weighted_ranking`) and the weights of
        its rows."""
        if self._keys is None:  # the same on every thread
            self._scores_of = ranked.scores_of
            self._keys = ranked.keys_of(self.points)
        points = self._keys
        n = len(ranked)
        weights, positive = ranked.weights(weight)
        sums = np.zeros(n + 1)  # the negatives' weight among the c highest scores, at c
        np.cumsum(np.where(positive, 0.0, weights), out=sums[1:])
        from_lowest = sums[::-1]  # at i: the weight of the negatives from the i-th lowest up
        # the keys lowest first, then one larger than any score's (no point equals it)
        ascending = np.empty(n + 1, dtype=points.dtype)
        ascending[:n] = ranked.runs[::-1]
        ascending[n] = np.iinfo(points.dtype).max if points.dtype.kind == "u" else np.inf
        below = np.searchsorted(ascending[:n], points)
        tied = np.flatnonzero(ascending[below] == points)
        not_above = below.copy()
        not_above[tied] = np.searchsorted(ascending[:n], points[tied], side="right")
        return ClassPart(from_lowest[below], tied,
                         from_lowest[below[tied]] - from_lowest[not_above[tied]],
                         ascending[not_above])

    def add(self, part: ClassPart) -> None:
        """Add one class's share (in class order)."""
        self._negatives_at += part.negatives_at
        self._tied_negatives[part.tied] += part.tied_negatives
        if self._next_above is None:
            self._next_above = part.next_above.copy()
        else:
            np.minimum(self._next_above, part.next_above, out=self._next_above)

    def curve(self, label: str) -> RocCurve:
        """The sampled pooled ROC curve and its exact AUC: `curves.weighted_pooled_roc_curve`'s
        values, but for the order in which the weights are summed."""
        if self._next_above is None or self._scores_of is None:
            raise ValueError("no class was added")
        negatives_above = self._negatives_at - self._tied_negatives
        next_above = self._scores_of(self._next_above)
        # every point where the curve can turn: the lowest and the top score, each positive
        # score and the next higher score (the end of the run of ties just before it)
        inner = slice(1, len(self.points) - 1)
        before = np.isfinite(next_above[inner])
        thresholds = np.concatenate([self.points, next_above[inner][before]])
        fps = np.concatenate([self._negatives_at, negatives_above[inner][before]])
        tps = np.concatenate([self._positives_at, self._positives_above[inner][before]])
        # highest score first; a score found twice has the same counts both times
        order = np.unique(thresholds, return_index=True)[1][::-1]
        sampler = curves.SampledRoc(*self._totals)
        sampler.add(fps[order], tps[order], np.arange(len(order)), True)
        return sampler.curve(label, thresholds[order].__getitem__)
