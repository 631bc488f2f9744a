"""Influence values: how much each row moves a metric, the derivative of the metric by the
row's weight (`intervals.py` turns them into standard errors).

Every metric here is a ratio of weighted sums, unchanged when all weights are scaled, so the
weighted influences sum to 0 and, for rows drawn independently, the variance of the metric is
about `sum_i w_i**2 * g_i**2` (the delta method; for the ROC AUC it is DeLong's variance, for
average precision the variance of its influence function). Rows alike for the metric share
one influence: the rows of one confusion-matrix cell, or the rows of one point of a class's
ranked counts (one score, or a stretch of negatives between two positives), so the sums are
taken over those groups with the sum of their squared weights.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from epoch_eval.metrics.curves import RankedCounts

THRESHOLD_METRICS: tuple[str, ...] = ("f1", "precision", "recall")
"""The averaged threshold metrics whose influence depends on each class's counts."""

BUCKET_BITS = 9
"""Mantissa bits of a float32 score kept in its bucket (`BucketTable`): 512 buckets per
factor of 2 in score."""
KEY_BITS = 18
"""`bucket_keys` are below `2**KEY_BITS`."""


def _inverse(values: np.ndarray) -> np.ndarray:
    """1 / values, 0 where values is 0 (the metric is 0 there and no row moves it)."""
    values = np.asarray(values, dtype=np.float64)
    safe = np.where(values == 0, 1.0, values)
    return np.where(values == 0, 0.0, 1.0 / safe)


def _dot(a: np.ndarray, b: np.ndarray) -> float:
    """`a @ b` of 1-D arrays in einsum's own loop: BLAS threads would spin on the other cores
    after each call, costing more CPU time than the sum itself."""
    return float(np.einsum("i,i->", a, b))


def class_variances(matrix: np.ndarray, squares: np.ndarray) -> dict[str, np.ndarray]:
    """The variances of each class's precision, recall and F1.

    Args:
        matrix: weighted `(..., C, C)` confusion matrices, rows true.
        squares: the sums of the squared weights of each cell, the same shape (`matrix` when
            there are no weights).

    Returns:
        `"precision"`, `"recall"`, `"f1"` -> `(..., C)` variances.
    """
    matrix = np.asarray(matrix, dtype=np.float64)
    squares = np.asarray(squares, dtype=np.float64)
    tp = np.diagonal(matrix, axis1=-2, axis2=-1)
    pred, true = matrix.sum(axis=-2), matrix.sum(axis=-1)
    q_tp = np.diagonal(squares, axis1=-2, axis2=-1)
    q_col, q_row = squares.sum(axis=-2) - q_tp, squares.sum(axis=-1) - q_tp  # off-diagonal
    precision, recall = tp * _inverse(pred), tp * _inverse(true)
    f1 = 2 * tp * _inverse(true + pred)
    return {
        "precision": (q_tp * (1 - precision) ** 2 + q_col * precision**2) * _inverse(pred) ** 2,
        "recall": (q_tp * (1 - recall) ** 2 + q_row * recall**2) * _inverse(true) ** 2,
        "f1": (q_tp * (2 - 2 * f1) ** 2 + (q_row + q_col) * f1**2)
        * _inverse(true + pred) ** 2,
    }


def single_label_gradients(matrix: np.ndarray, average: str) -> dict[str, np.ndarray]:
    """The influence of a row in each cell of a `(C, C)` confusion matrix on the averaged F1,
    precision and recall and on the accuracy, as `(C, C)` arrays (rows true)."""
    matrix = np.asarray(matrix, dtype=np.float64)
    n = len(matrix)
    eye = np.eye(n)
    tp, pred, true = np.diagonal(matrix), matrix.sum(axis=0), matrix.sum(axis=1)
    total = float(true.sum())
    ip, it, i_sum = _inverse(pred), _inverse(true), _inverse(true + pred)
    p, r, f = tp * ip, tp * it, 2 * tp * i_sum
    accuracy = float(tp.sum()) / total if total > 0 else 0.0
    exact = (eye - accuracy) / total if total > 0 else np.zeros((n, n))
    gradients = {"accuracy": exact}
    if average == "micro":
        return {**gradients, "precision": exact, "recall": exact, "f1": exact}
    # per-class gradients, summed over the classes with these class weights
    if average == "binary":
        weights = np.zeros(n)
        weights[1] = 1.0
    elif average == "weighted" and total > 0:
        weights = true / total
    else:
        weights = np.full(n, 1.0 / n)
    precision = (eye - p[None, :]) * (weights * ip)[None, :]
    recall = (eye - r[:, None]) * (weights * it)[:, None]
    f_term = weights * f * i_sum
    f1 = 2 * eye * (weights * i_sum)[:, None] - f_term[:, None] - f_term[None, :]
    if average == "weighted" and total > 0:
        # the class weights move too: d(true_a / total) adds (m_a - mean) / total
        precision = precision + ((p - _dot(weights, p)) / total)[:, None]
        recall = recall + ((r - _dot(weights, r)) / total)[:, None]
        f1 = f1 + ((f - _dot(weights, f)) / total)[:, None]
    return {**gradients, "precision": precision, "recall": recall, "f1": f1}


def multilabel_gradients(matrix: np.ndarray, average: str) -> np.ndarray:
    """The influence of each label's cell on the averaged F1, precision and recall, as an
    `(L, 4, 3)` array: label, cell `2 * true + predicted`, metric (`THRESHOLD_METRICS`).
    A row's influence is the sum over its labels.

    Args:
        matrix: `(L, 2, 2)` weighted matrices `[[tn, fp], [fn, tp]]`.
        average: `"micro"`, `"macro"` or `"weighted"`.
    """
    matrix = np.asarray(matrix, dtype=np.float64)
    y = np.array([0.0, 0.0, 1.0, 1.0])[None, :]  # per cell 2 * true + predicted
    q = np.array([0.0, 1.0, 0.0, 1.0])[None, :]
    tp, pred, true = matrix[:, 1, 1], matrix[:, :, 1].sum(axis=1), matrix[:, 1, :].sum(axis=1)
    if average == "micro":
        tp_all, pred_all, true_all = tp.sum(), pred.sum(), true.sum()
        p = tp_all * _inverse(pred_all)
        r = tp_all * _inverse(true_all)
        f = 2 * tp_all * _inverse(true_all + pred_all)
        precision = q * (y - p) * _inverse(pred_all)
        recall = y * (q - r) * _inverse(true_all)
        f1 = (2 * y * q - f * (y + q)) * _inverse(true_all + pred_all)
        out = np.stack(np.broadcast_arrays(f1, precision, recall), axis=-1)
        return np.broadcast_to(out, (len(matrix), 4, 3)).copy()
    ip, it, i_sum = _inverse(pred), _inverse(true), _inverse(true + pred)
    p, r, f = (tp * ip)[:, None], (tp * it)[:, None], (2 * tp * i_sum)[:, None]
    total_true = float(true.sum())
    if average == "weighted" and total_true > 0:
        weights = (true / total_true)[:, None]
    else:
        weights = np.full((len(matrix), 1), 1.0 / max(len(matrix), 1))
    precision = weights * q * (y - p) * ip[:, None]
    recall = weights * y * (q - r) * it[:, None]
    f1 = weights * (2 * y * q - f * (y + q)) * i_sum[:, None]
    if average == "weighted" and total_true > 0:
        # a row's true labels move the weights: each adds (m_l - mean) / total_true
        for gradient, values in ((precision, p), (recall, r), (f1, f)):
            gradient += y * (values - _dot(weights[:, 0], values[:, 0])) / total_true
    return np.stack([f1, precision, recall], axis=-1)


@dataclass(frozen=True)
class RankInfluence:
    """One class's ROC AUC and average precision, their variances, and the influence of a
    positive and of a negative row at each point of its ranked counts.

    Attributes:
        values: `(2,)` ROC AUC and average precision (nan where undefined).
        variances: `(2,)` their variances (nan where undefined).
        thresholds: `(m,)` the score at each point, decreasing.
        negative, positive: `(m, 2)` the influence on (ROC AUC, AP) of a negative or a
            positive row at each point (0 where the metric is undefined).
        negative_squares, positive_squares: `(m,)` the sums of the squared weights of the
            negative and positive rows of each point.
        effective: `(2,)` the effective numbers of negative and positive rows (Kish's
            `(sum w)**2 / sum(w**2)`; the counts without weights).
        scales: `(2,)` the small-sample factors of the negatives' and the positives' parts of
            the standard errors, `sqrt(k / (k - 1))` for k effective rows of each side:
            DeLong's unbiased form (`sqrt(2)` where k <= 2). `variances` include them.
    """

    values: np.ndarray
    variances: np.ndarray
    thresholds: np.ndarray
    negative: np.ndarray
    positive: np.ndarray
    negative_squares: np.ndarray
    positive_squares: np.ndarray
    effective: np.ndarray
    scales: np.ndarray


def turning_points(counts: RankedCounts) -> RankedCounts:
    """The points of unweighted `counts` where a curve can turn: those holding a positive,
    the one before each, the first and the last (as `curves.rank` keeps them with weights).
    A stretch of negatives between two kept points shares its influences, so the
    influences of these points are those of every row. Weighted counts pass unchanged."""
    if counts.positive_squares is not None or len(counts.tps) < 3:
        return counts
    tps = counts.tps
    keep = np.empty(len(tps), dtype=bool)
    np.not_equal(tps[1:], tps[:-1], out=keep[1:])  # the point holds a positive
    keep[0] = True
    keep[:-1] |= keep[1:]  # or the next one does
    keep[-1] = True
    at = np.flatnonzero(keep)
    return RankedCounts(counts.fps[at], tps[at], counts.thresholds[at])


def rank_influence(counts: RankedCounts) -> RankInfluence:
    """The ROC AUC and average precision influences at each point of `counts`.

    A positive row at point k, with the negatives `F_k` (ties count half) below it, moves the
    AUC by `(F_k / N - AUC) / P`; a negative by `(S_k / P - AUC) / N`, `S_k` the positives
    above it. Average precision `sum_k dTP_k * prec_k / P` moves by
    `(prec_k - AP + sum_{j>=k} dTP_j (1 - prec_j) / D_j) / P` for a positive and by
    `-sum_{j>=k} dTP_j prec_j / D_j / P` for a negative (`D_j` rows at or above point j).
    Both are exact where a point is one score or a stretch of negatives between positives
    (as `curves.rank` keeps them; see `turning_points`).
    """
    counts = turning_points(counts)
    fps = np.asarray(counts.fps, dtype=np.float64)
    tps = np.asarray(counts.tps, dtype=np.float64)
    m = len(fps)
    wp, wn = _steps(tps), _steps(fps)
    qp = wp if counts.positive_squares is None else counts.positive_squares
    qn = wn if counts.negative_squares is None else counts.negative_squares
    negative, positive = np.zeros((2, m)), np.zeros((2, m))  # (AUC, AP) by point
    values = np.full(2, np.nan)
    p_all, n_all = (tps[-1], fps[-1]) if m else (0.0, 0.0)
    if p_all > 0 and n_all > 0:
        below = np.subtract(n_all, fps, out=positive[0])
        below += 0.5 * wn
        auc = _dot(wp, below) / (p_all * n_all)
        below -= auc * n_all
        below /= p_all * n_all  # (F_k / N - AUC) / P
        above = np.multiply(wp, -0.5, out=negative[0])
        above += tps
        above -= auc * p_all
        above /= p_all * n_all  # (S_k / P - AUC) / N
        values[0] = auc
    if p_all > 0:
        rows = tps + fps
        if rows[0] <= 0:  # no rows at the first point: weights of 0 only
            rows[rows == 0] = np.inf
        precision = tps / rows
        ap = _dot(wp, precision) / p_all
        step = np.divide(wp, rows, out=rows)
        lost = step * precision
        kept = np.subtract(step, lost, out=step)
        # sums over this point and every point after it (lower scores)
        np.cumsum(kept[::-1], out=kept[::-1])
        np.cumsum(lost[::-1], out=lost[::-1])
        np.add(precision - ap, kept, out=positive[1])
        positive[1] /= p_all
        np.divide(lost, -p_all, out=negative[1])
        values[1] = ap
    effective = effective_rows(np.array([n_all, p_all]), np.array([np.sum(qn), np.sum(qp)]))
    scales = np.where(effective > 2, np.sqrt(effective / np.maximum(effective - 1, 1)),
                      np.sqrt(2))
    squared = (np.einsum("jm,jm,m->j", positive, positive, qp) * scales[1] ** 2
               + np.einsum("jm,jm,m->j", negative, negative, qn) * scales[0] ** 2)
    variances = np.where(np.isnan(values), np.nan, squared)
    return RankInfluence(values, variances, counts.thresholds, negative.T, positive.T,
                         np.asarray(qn, dtype=np.float64), np.asarray(qp, dtype=np.float64),
                         effective, scales)


def _steps(cumulative: np.ndarray) -> np.ndarray:
    """`np.diff(cumulative, prepend=0.0)`, without its overhead on short arrays."""
    steps = np.empty(len(cumulative))
    if len(cumulative):
        steps[0] = cumulative[0]
        np.subtract(cumulative[1:], cumulative[:-1], out=steps[1:])
    return steps


def effective_rows(total: np.ndarray, squares: np.ndarray) -> np.ndarray:
    """Kish's effective number of rows `total**2 / squares` of rows weighing `total` with
    squared weights `squares` (the count without weights); 0 where there are none."""
    total = np.asarray(total, dtype=np.float64)
    squares = np.asarray(squares, dtype=np.float64)
    return np.where(squares > 0, total**2 / np.where(squares > 0, squares, 1.0), 0.0)


def bucket_keys(scores: np.ndarray) -> np.ndarray:
    """A bucket number for each score, in score order: the float32 bits made orderable as
    unsigned integers, keeping `BUCKET_BITS` bits of mantissa (below 2**18)."""
    single = np.asarray(scores).astype(np.float32, copy=False)
    bits = single.view(np.uint32)
    keys = np.right_shift(bits.view(np.int32), 31).view(np.uint32)  # all ones if negative
    np.bitwise_or(keys, np.uint32(1 << 31), out=keys)
    np.bitwise_xor(bits, keys, out=keys)
    return np.right_shift(keys, 23 - BUCKET_BITS, out=keys)


def bucket_table(influence: RankInfluence) -> tuple[int, np.ndarray]:
    """A class's influences by score bucket, to read one per row without its rank: the
    lowest bucket, and a `(buckets, 2, 2)` table (bucket, negative/positive, (AUC, AP)).

    A bucket's influence is the mean of those of the points in it, weighted by their sums of
    squared weights; a bucket without a point takes that of the nearest bucket below, where
    the stretch of negatives holding it ends. Each side is multiplied by its small-sample
    factor (`RankInfluence.scales`).
    """
    keys = bucket_keys(influence.thresholds)
    if len(keys) == 0:
        return 0, np.zeros((1, 2, 2))
    lowest = int(keys[-1])
    size = int(keys[0]) - lowest + 1
    # the points come by decreasing score: each bucket's points are one run of its key
    starts = np.flatnonzero(keys[1:] != keys[:-1]) + 1
    starts = np.r_[0, starts]
    buckets = keys[starts].astype(np.intp) - lowest
    table = np.zeros((size, 2, 2))
    sides = ((influence.negative_squares, influence.negative),
             (influence.positive_squares, influence.positive))
    for side, (squares, values) in enumerate(sides):
        weight = np.add.reduceat(squares, starts)
        held = weight > 0
        if not held.any():
            continue
        for j in range(2):
            sums = np.add.reduceat(squares * values[:, j], starts)
            table[buckets[held], side, j] = sums[held] / weight[held]
        filled = np.zeros(size, dtype=bool)
        filled[buckets[held]] = True
        nearest_below = np.maximum.accumulate(np.where(filled, np.arange(size), 0))
        table[:, side] = table[nearest_below, side] * influence.scales[side]
    return lowest, table


def dense_table_size(influences: Sequence[RankInfluence]) -> int:
    """The buckets of every class's `bucket_table` together (each spans its lowest to its
    highest score's bucket), without building them."""
    size = 0
    for influence in influences:
        if len(influence.thresholds):
            keys = bucket_keys(influence.thresholds[[0, -1]])
            size += int(keys[0]) - int(keys[1]) + 1
        else:
            size += 1
    return size


@dataclass(frozen=True)
class HeldBuckets:
    """The buckets of every class that hold a point, with the values `bucket_table` gives
    them: for few rows, where a class's dense table (every bucket between its lowest and
    highest score, thousands) costs far more than its points (tens).

    Attributes:
        keys: `(M,)` increasing: `((class * 2 + side) << KEY_BITS) | bucket`, side 0 for a
            negative row of the class, 1 for a positive one.
        values: `(M, 2)` the influences on (AUC, AP) of a row of that bucket and side.
    """

    keys: np.ndarray
    values: np.ndarray


def held_buckets(influences: Sequence[RankInfluence], masks: np.ndarray) -> HeldBuckets:
    """Every class's held buckets, each side's values as `bucket_table`'s (same operations,
    same floats), times the class's mask of defined metrics `(C, 2)`."""
    keys: list[np.ndarray] = []
    values: list[np.ndarray] = []
    for k, (influence, mask) in enumerate(zip(influences, masks, strict=True)):
        points = bucket_keys(influence.thresholds)
        if len(points) == 0:
            continue
        starts = np.r_[0, np.flatnonzero(points[1:] != points[:-1]) + 1]
        buckets = points[starts].astype(np.int64)
        sides = ((influence.negative_squares, influence.negative),
                 (influence.positive_squares, influence.positive))
        for side, (squares, influences_at) in enumerate(sides):
            weight = np.add.reduceat(squares, starts)
            held = weight > 0
            if not held.any():
                continue
            side_values = np.empty((int(held.sum()), 2))
            for j in range(2):
                sums = np.add.reduceat(squares * influences_at[:, j], starts)
                side_values[:, j] = sums[held] / weight[held]
            side_values = side_values * influence.scales[side] * mask
            keys.append(((k * 2 + side) << KEY_BITS | buckets[held])[::-1])  # increasing
            values.append(side_values[::-1])
    if not keys:
        return HeldBuckets(np.zeros(0, dtype=np.int64), np.zeros((0, 2)))
    return HeldBuckets(np.concatenate(keys), np.concatenate(values))


def summed_squares_held(scores: np.ndarray, truth: np.ndarray, held: HeldBuckets,
                        weight: np.ndarray | None, chunk: int = 1 << 15) -> np.ndarray:
    """`summed_squares` from `HeldBuckets`: each row's bucket is looked up among the held
    ones (`searchsorted`; a bucket without a point reads the nearest held one below, as the
    dense tables do), so the result is `summed_squares`' to the last bit."""
    n, classes = scores.shape
    total = np.zeros(2)
    if len(held.keys) == 0:
        return total
    class_keys = (np.arange(classes, dtype=np.int64) * 2)[:, None]
    for start in range(0, n, chunk):
        keys = bucket_keys(np.ascontiguousarray(scores[start:start + chunk].T))
        rows = truth[start:start + chunk]
        group = np.repeat(class_keys, keys.shape[1], axis=1)
        if rows.ndim == 1:
            group[rows, np.arange(len(rows))] += 1
        else:
            group += rows.T
        wanted = (group << KEY_BITS) | keys
        at = np.searchsorted(held.keys, wanted, side="right") - 1
        np.maximum(at, 0, out=at)
        found = (held.keys[at] >> KEY_BITS) == group
        for j in range(2):
            psi = np.where(found, held.values[at, j], 0.0).sum(axis=0)
            if weight is not None:
                psi *= weight[start:start + chunk]
            total[j] += _dot(psi, psi)
    return total


def summed_squares(scores: np.ndarray, truth: np.ndarray, tables: list[tuple[int, np.ndarray]],
                   weight: np.ndarray | None, chunk: int = 1 << 15) -> np.ndarray:
    """`sum_i w_i**2 * (sum_k psi_ik)**2` for (AUC, AP): each row's influences on every
    class, read from the classes' `bucket_table`s, added up; a chunk of rows at a time.

    Args:
        scores: `(n, C)` scores.
        truth: `(n,)` class indices (multiclass) or `(n, C)` booleans (multilabel).
        tables: one `bucket_table` per class (zeros where a metric is undefined).
        weight: `(n,)` sample weights, or None.
    """
    n = len(scores)
    sizes = np.array([len(table) for _, table in tables])
    offsets = np.r_[0, np.cumsum(sizes)[:-1]]
    base = (offsets - np.array([lowest for lowest, _ in tables])).astype(np.int32)[:, None]
    low, high = offsets.astype(np.int32)[:, None], (offsets + sizes - 1).astype(np.int32)[:, None]
    # rows of weight 0 are not ranked: only they can fall outside their class's table
    outside = weight is not None and not weight.all()
    flat = np.concatenate([table for _, table in tables]).reshape(-1, 2)
    by_metric = (np.ascontiguousarray(flat[:, 0]), np.ascontiguousarray(flat[:, 1]))
    total = np.zeros(2)
    for start in range(0, n, chunk):
        # classes by rows, so that adding up the classes runs along contiguous rows
        keys = bucket_keys(np.ascontiguousarray(scores[start:start + chunk].T)).view(np.int32)
        keys += base
        if outside:
            np.clip(keys, low, high, out=keys)
        keys *= 2
        rows = truth[start:start + chunk]
        if rows.ndim == 1:
            keys[rows, np.arange(len(rows))] += 1
        else:
            keys += rows.T
        for j, table in enumerate(by_metric):
            psi = np.take(table, keys).sum(axis=0)
            if weight is not None:
                psi *= weight[start:start + chunk]
            total[j] += _dot(psi, psi)
    return total


def exact_rank_rows(truth: np.ndarray, score: np.ndarray,
                    weight: np.ndarray | None) -> tuple[RankInfluence, np.ndarray]:
    """One class's `RankInfluence` over every distinct score and each row's exact `(n, 2)`
    influences on (AUC, AP); an argsort of its own, for paired comparisons and tests."""
    values, inverse = np.unique(score, return_inverse=True)
    m = len(values)
    w = np.ones(len(score)) if weight is None else np.asarray(weight, dtype=np.float64)
    truth = np.asarray(truth, dtype=bool)

    def per_value(x: np.ndarray) -> np.ndarray:
        return np.bincount(inverse, weights=x, minlength=m)[::-1]

    wp, wn = per_value(w * truth), per_value(w * ~truth)
    qp, qn = per_value(w * w * truth), per_value(w * w * ~truth)
    counts = RankedCounts(np.cumsum(wn), np.cumsum(wp), values[::-1], qn, qp)
    influence = rank_influence(counts)
    at = m - 1 - inverse
    rows = np.where(truth[:, None], influence.positive[at], influence.negative[at])
    return influence, rows
