"""The score threshold that maximises F1, per class, and an honest held-out estimate of its F1.

F1 at threshold `t` (a score `>= t` is positive) is `2 tp / (tp + fp + P)`, `P` the positive
weight, 0 where that is 0/0. The best threshold is a score among the rows (the thresholds of
the precision-recall curve), the highest one where F1 is largest (the tie rule): a run of
negatives below it only lowers F1, so it is the first point of its run of equal true
positives, which the curves keep (`drop_intermediate`); the counts the curves are made from
hold every maximum. Where a class has no positive, F1 is 0 everywhere and the rule picks the
highest score.

The held-out estimate splits the rows into two random halves (`split_halves`), chooses the
threshold on each half and measures F1 on the other, and averages the two. The thresholds it
tries are the floors of 2**16 buckets of the float32 scores (128 to each power of two), so
one weighted count of each half's rows per bucket gives every F1 exactly, with no sort: a few
passes over the scores (benchmarks/bench_best_threshold.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from epoch_eval.metrics.curves import RankedCounts
from epoch_eval.metrics.result import Task, frozen_array
from epoch_eval.metrics.targets import Targets

BUCKET_BITS = 16
"""Buckets of a half's scores: the top bits of each score's float32, made orderable."""

@dataclass(frozen=True)
class BestThreshold:
    """`Evaluation`'s best-threshold fields: floats for binary, per-label arrays for
    multilabel; `heldout` is None where no rows are kept (tally mode)."""

    threshold: float | np.ndarray
    f1: float | np.ndarray
    heldout: float | np.ndarray | None

    def fields(self) -> dict[str, Any]:
        """The keyword arguments of `Evaluation` that hold these values."""
        return {"best_threshold": self.threshold, "f1_at_best_threshold": self.f1,
                "f1_at_best_threshold_heldout": self.heldout}


def best_f1(counts: RankedCounts) -> tuple[float, float]:
    """The highest threshold where F1 is largest, and that F1, from a class's ranked counts
    (`curves.rank`, or a tally's bins); `(nan, nan)` where there is no sample."""
    if len(counts.tps) == 0:
        return float("nan"), float("nan")
    tps = counts.tps.astype(np.float64)
    f1 = 2 * tps / (tps + counts.fps + counts.positives)
    best = int(np.argmax(f1))  # the first maximum: the highest threshold
    return float(counts.thresholds[best]), float(f1[best])


def of_task(task: Task, per_class: Sequence[tuple[float, float]],
            heldout: Sequence[float] | None) -> BestThreshold | None:
    """Shape per-class `best_f1` results (binary: the positive class only) and held-out F1s
    as `Evaluation` holds them; None for multiclass."""
    if task == "multiclass":
        return None
    thresholds, f1s = (np.array(column, dtype=np.float64) for column in zip(*per_class,
                                                                          strict=True))
    kept = None if heldout is None else np.asarray(heldout, dtype=np.float64)
    if task == "binary":
        return BestThreshold(float(thresholds[0]), float(f1s[0]),
                             None if kept is None else float(kept[0]))
    return BestThreshold(frozen_array(thresholds), frozen_array(f1s),
                         None if kept is None else frozen_array(kept))


def from_targets(targets: Targets, per_class: Sequence[tuple[float, float]],
                 seed: int) -> BestThreshold | None:
    """`of_task` with the held-out F1 of each class (binary: the positive class) on the halves
    of `split_halves(n, seed)`."""
    if targets.task == "multiclass":
        return None
    in_a = split_halves(len(targets.labels), seed)
    if targets.task == "binary":
        columns = [(targets.labels == 1, targets.scores)]
    else:
        columns = [(targets.labels[:, k], targets.scores[:, k])
                   for k in range(targets.n_classes)]
    heldout = [heldout_f1(truth, score, targets.sample_weight, in_a)
               for truth, score in columns]
    return of_task(targets.task, per_class, heldout)


def split_halves(n: int, seed: int) -> np.ndarray:
    """`(n,)` booleans, True for the `n // 2` rows of half A, a uniformly random half drawn
    from `np.random.default_rng(seed)`.

    Each row falls in A with probability 1/2, then random rows move from the larger side to
    make it exactly half: the draw is the same for every row, so every half is as likely
    (a permutation of a million rows costs a tenth of an evaluation; this, a fiftieth).
    """
    rng = np.random.default_rng(seed)
    in_a = rng.random(n, dtype=np.float32) < 0.5
    excess = int(np.count_nonzero(in_a)) - n // 2
    if excess:
        larger = np.flatnonzero(in_a if excess > 0 else ~in_a)
        in_a[rng.choice(larger, abs(excess), replace=False)] = excess < 0
    return in_a


def heldout_f1(truth: np.ndarray, score: np.ndarray, weight: np.ndarray | None,
               in_a: np.ndarray) -> float:
    """The mean of the F1 on half B at the best threshold of half A and the other way round;
    nan where a half has no (weighted) row.

    The thresholds tried on a half are the floors of the buckets of `_bucket_of` (2**16
    buckets of the float32 scores: 128 to each power of two, a relative step of 1/128), so
    one count of each half's rows per bucket gives every F1 exactly, with no sort (with few
    rows, only the occupied buckets are counted: the same thresholds and F1s).

    Args:
        truth: `(n,)` booleans, True for the positive class.
        score: `(n,)` scores.
        weight: `(n,)` non-negative sample weights, or None; zero-weight rows count nothing.
        in_a: `(n,)` booleans, True for the rows of half A (`split_halves`).
    """
    code = _bucket_of(score)
    buckets = 1 << BUCKET_BITS
    if len(code) < buckets // 8:  # few rows: number only the occupied buckets, in order
        occupied, inverse = np.unique(code, return_inverse=True)
        code, buckets = inverse.astype(np.uint32), len(occupied)
    code <<= np.uint32(2)
    code |= in_a.astype(np.uint32) << np.uint32(1)
    code |= truth
    counted = np.bincount(code, weights=weight, minlength=4 * buckets)
    # highest bucket first; (bucket, half, truth) -> each half's F1 at each bucket's floor
    counts = counted.astype(np.float64, copy=False).reshape(-1, 2, 2)[::-1]
    f1 = [_f1_at_floors(counts[:, half]) for half in (0, 1)]
    estimates = []
    for half, other in ((1, 0), (0, 1)):
        chosen_f1, measured_f1 = f1[half], f1[other]
        if chosen_f1 is None or measured_f1 is None:  # a half without weight
            return float("nan")
        scores_of_half = counts[:, half].sum(axis=1) > 0
        chosen = int(np.argmax(np.where(scores_of_half, chosen_f1, -1.0)))  # the highest first
        estimates.append(float(measured_f1[chosen]))
    return float(np.mean(estimates))


def _f1_at_floors(counts: np.ndarray) -> np.ndarray | None:
    """F1 of one half at each bucket's floor as threshold, from its `(buckets, 2)` weights of
    negatives and positives, highest bucket first (0 where nothing is predicted positive and
    there is no positive); None where the half has no weight at all."""
    predicted = np.cumsum(counts.sum(axis=1))
    if not predicted[-1] > 0:
        return None
    true_positives = np.cumsum(counts[:, 1])
    denominator = predicted + true_positives[-1]
    return np.divide(2 * true_positives, denominator, out=np.zeros_like(denominator),
                     where=denominator > 0)


def _bucket_of(score: np.ndarray) -> np.ndarray:
    """Each score's bucket, the top `BUCKET_BITS` of its float32 made orderable: ties share a
    bucket and a higher score never has a lower one."""
    bits = np.add(score, 0.0, dtype=np.float32).view(np.uint32)  # a copy; -0.0 becomes 0.0
    # a negative float's magnitude orders backwards: flip all its bits, else only the sign
    flip = np.right_shift(bits.view(np.int32), 31).view(np.uint32)
    flip |= np.uint32(1 << 31)
    bits ^= flip
    bits >>= np.uint32(32 - BUCKET_BITS)
    return bits
