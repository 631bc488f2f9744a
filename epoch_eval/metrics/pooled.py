"""The micro-average ROC curve summed from the classes' own rankings, without a sort of every
(row, class) score.

The pooled curve can turn only at a pooled positive's score and at the next higher score
(`Descending.turning_counts`). With at most one positive per row (multiclass), those points are
few: each class's ranking, sorted anyway for its own curves, gives by one search the weight of
its negatives at or above each point (without weights: the count of all its scores), and the
pooled counts are their sums over the classes (the positives' are summed once, from the
positive scores alone). At 50,000 x 1,000
this replaces a sort of 50 million scores (with weights: 64-bit keys, about 4 s of CPU and
400 MB here; without: 2.5 s and 630 MB at the peak) by 1,000 searches of 50,000 values. Used
from `MIN_CLASSES` classes where the pooled curve is sampled (more than `2 * CURVE_SAMPLES`
distinct positive scores);
elsewhere `curves.pooled_roc_curve` or `curves.weighted_pooled_roc_curve`. Without weights
every count is an integer, and the curve and its AUC are bit for bit the pooled sort's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from epoch_eval.metrics import curves
from epoch_eval.metrics.descending import Descending
from epoch_eval.metrics.result import RocCurve

MIN_CLASSES = 64
"""Below this many classes one sort of the pooled scores is the better way: it costs about as
much CPU there, and less memory than the classes' searches on threads (at 1,000,000 x 10:
175-208 MiB against 268-301 MiB)."""


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
    """The pooled counts of a micro average, summed class by class.

    Make it with `plan`, give each class's ranking to `part` (with weights) or its sorted
    scores to `sorted_part` (without), on any thread, `add` the parts in class order (the sums
    are then the same on any number of threads), then take the `curve`.
    """

    def __init__(self, points: np.ndarray, positive_scores: np.ndarray,
                 positive_weights: np.ndarray, negatives: float, positives: float,
                 counts_all: bool = False) -> None:
        self.points = points  # the lowest score, the distinct positive scores, the top score
        self._totals = (negatives, positives)
        self._counts_all = counts_all  # the parts count every score, positives included
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
             weight: np.ndarray | None) -> PooledCounts | None:
        """The pooled counts to sum for `(n, C)` scores with these booleans and weights (None:
        each row weighs 1), or None where one sort of the pooled scores is the better way
        (fewer than `MIN_CLASSES` classes, more positives than rows, or a curve short enough to
        keep every point)."""
        if scores.shape[1] < MIN_CLASSES:
            return None
        if weight is not None:
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
        points = np.concatenate([[scores.min()], points, [scores.max()]]).astype(dtype)
        if weight is None:  # the totals as `curves.count_ranks` has them
            return cls(points, positive_scores, np.ones(len(rows)),
                       float(scores.size - len(rows)), float(len(rows)), counts_all=True)
        # the totals as `curves.weighted_pooled_roc_curve` has them: the sampled curve's grid
        positives = float(np.sum(weight * truth.sum(axis=1)))
        negatives = float(weight.sum()) * scores.shape[1] - positives
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
        ascending, below, tied, not_above = _search(ranked.runs[::-1], points)
        return ClassPart(from_lowest[below], tied,
                         from_lowest[below[tied]] - from_lowest[not_above[tied]],
                         ascending[not_above])

    def sorted_part(self, ascending: np.ndarray) -> ClassPart:
        """Without weights: one class's share from its scores sorted lowest first. Its
        "negatives" count every score; `curve` takes the positives away."""
        if self._keys is None:
            self._scores_of = np.asarray
            self._keys = self.points
        n = len(ascending)
        padded, below, tied, not_above = _search(ascending, self._keys)
        return ClassPart((n - below).astype(np.float64), tied,
                         (not_above[tied] - below[tied]).astype(np.float64), padded[not_above])

    def add(self, part: ClassPart) -> None:
        """Add one class's share (in class order)."""
        self._negatives_at += part.negatives_at
        self._tied_negatives[part.tied] += part.tied_negatives
        if self._next_above is None:
            self._next_above = part.next_above.copy()
        else:
            np.minimum(self._next_above, part.next_above, out=self._next_above)

    def curve(self, label: str) -> RocCurve:
        """The sampled pooled ROC curve and its exact AUC: the pooled sort's values, but with
        weights for the order in which they are summed."""
        if self._next_above is None or self._scores_of is None:
            raise ValueError("no class was added")
        negatives_at = self._negatives_at
        negatives_above = negatives_at - self._tied_negatives
        if self._counts_all:  # exact: integers
            negatives_at = negatives_at - self._positives_at
            negatives_above -= self._positives_above
        next_above = self._scores_of(self._next_above)
        # every point where the curve can turn: the lowest and the top score, each positive
        # score and the next higher score (the end of the run of ties just before it)
        inner = slice(1, len(self.points) - 1)
        before = np.isfinite(next_above[inner])
        thresholds = np.concatenate([self.points, next_above[inner][before]])
        fps = np.concatenate([negatives_at, negatives_above[inner][before]])
        tps = np.concatenate([self._positives_at, self._positives_above[inner][before]])
        # highest score first; a score found twice has the same counts both times
        order = np.unique(thresholds, return_index=True)[1][::-1]
        sampler = curves.SampledRoc(*self._totals)
        sampler.add(fps[order], tps[order], np.arange(len(order)), True)
        return sampler.curve(label, thresholds[order].__getitem__)


def _search(ascending: np.ndarray, points: np.ndarray,
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Where the ascending `points` fall among `ascending` scores (or keys): `ascending` with
    one value larger than any score after it (no point equals it), how many scores lie below
    each point, which points some score equals, and how many scores lie at or below each."""
    n = len(ascending)
    padded = np.empty(n + 1, dtype=ascending.dtype)
    padded[:n] = ascending
    padded[n] = np.iinfo(padded.dtype).max if padded.dtype.kind == "u" else np.inf
    below = np.searchsorted(padded[:n], points)
    tied = np.flatnonzero(padded[below] == points)
    not_above = below.copy()
    not_above[tied] = np.searchsorted(padded[:n], points[tied], side="right")
    return padded, below, tied, not_above
