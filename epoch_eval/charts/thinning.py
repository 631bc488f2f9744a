"""Thin a curve of up to millions of points to a few thousand without a visible change."""

from __future__ import annotations

import dataclasses

import numpy as np

from epoch_eval.metrics.result import Evaluation, PrecisionRecallCurve, RocCurve, frozen_array

DEFAULT_TOLERANCE = 5e-4
"""Half a pixel on a 1000-pixel axis spanning 0..1."""


def thin_curve(
    x: np.ndarray, y: np.ndarray, *, tolerance: float = DEFAULT_TOLERANCE,
    min_points: int = 4000,
) -> tuple[np.ndarray, np.ndarray]:
    """Drop the points of a polyline that no screen could show, keeping both endpoints.

    The points are bucketed by their cumulative path length (the sum of `|dx| + |dy|` along
    the curve) in steps of `tolerance`, and the first point of each bucket is kept, plus the
    last point. Every dropped point then lies within `tolerance` (L1, hence also Euclidean
    distance) of the kept point before it, so the thinned polyline stays within `tolerance`
    of the original everywhere, and the same holds when both are drawn as `"steps-post"`
    staircases. On a unit square that is half a pixel for an axis of 1,000 pixels.

    The number of points kept is at most `path length / tolerance + 2`: a ROC curve (both
    coordinates monotone, path length at most 2) keeps at most 4,002 points at the default
    tolerance; a precision-recall curve a few more, as precision may go up and down.

    Args:
        x, y: the curve's coordinates, in data units of a unit square.
        tolerance: the largest distance allowed between the thinned and the original curve.
        min_points: curves with at most this many points are returned unchanged.

    Returns:
        `(x, y)` of the kept points, in their original order (the inputs themselves when
        nothing needs thinning).
    """
    x = np.asarray(x)
    y = np.asarray(y)
    keep = thinning_mask(x, y, tolerance=tolerance, min_points=min_points)
    return (x, y) if keep is None else (x[keep], y[keep])


def thinning_mask(
    x: np.ndarray, y: np.ndarray, *, tolerance: float = DEFAULT_TOLERANCE,
    min_points: int = 4000,
) -> np.ndarray | None:
    """The points `thin_curve` keeps, as a boolean mask; None when it keeps them all."""
    if len(x) <= min_points:
        return None
    step = np.abs(np.diff(x)) + np.abs(np.diff(y))
    step = np.nan_to_num(step, nan=0.0, posinf=0.0)
    length = np.r_[0.0, np.cumsum(step)]
    bucket = np.floor(length / tolerance)
    keep = np.r_[True, bucket[1:] != bucket[:-1]]
    keep[-1] = True
    return keep


def thin_evaluation(evaluation: Evaluation) -> Evaluation:
    """`evaluation` with every curve thinned as `thin_curve` thins it for drawing.

    The charts look the same, and the result is much smaller to send to a chart process when
    the validation set is large. Each curve's thresholds keep the points that stay.
    """

    def thin_roc(curve: RocCurve) -> RocCurve:
        keep = thinning_mask(curve.fpr, curve.tpr)
        if keep is None:
            return curve
        return dataclasses.replace(
            curve, fpr=frozen_array(curve.fpr[keep]), tpr=frozen_array(curve.tpr[keep]),
            thresholds=frozen_array(curve.thresholds[keep[:len(curve.thresholds)]]))

    def thin_pr(curve: PrecisionRecallCurve) -> PrecisionRecallCurve:
        keep = thinning_mask(curve.recall, curve.precision)
        if keep is None:
            return curve
        return dataclasses.replace(
            curve, precision=frozen_array(curve.precision[keep]),
            recall=frozen_array(curve.recall[keep]),
            thresholds=frozen_array(curve.thresholds[keep[:len(curve.thresholds)]]))

    return dataclasses.replace(
        evaluation,
        roc_curves=tuple(thin_roc(c) for c in evaluation.roc_curves),
        roc_micro=None if evaluation.roc_micro is None else thin_roc(evaluation.roc_micro),
        roc_macro=None if evaluation.roc_macro is None else thin_roc(evaluation.roc_macro),
        pr_curves=tuple(thin_pr(c) for c in evaluation.pr_curves),
    )


def simplify_mask(x: np.ndarray, y: np.ndarray, *, tolerance: float,
                  kept: np.ndarray | None = None) -> np.ndarray:
    """The points of a polyline that keep it within `tolerance` of itself, as a boolean mask.

    Douglas-Peucker, one level of splits at a time over every segment at once (NumPy, no loop
    per point): a segment whose farthest point between its ends lies more than `tolerance`
    from it (distance to the segment, not to its line) is split at that point, until none is.
    Every dropped point then lies within `tolerance` of the kept polyline, and a smooth curve
    keeps a few dozen points where `thin_curve` keeps thousands. Both endpoints are kept, and
    the points `kept` marks (the ends of several curves laid end to end, simplified in one
    call); nan points are dropped.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    finite = np.isfinite(x) & np.isfinite(y)
    keep = np.zeros(len(x), dtype=bool)
    where = np.flatnonzero(finite)
    if len(where) <= 2:
        keep[where] = True
        return keep
    px, py = x[where], y[where]
    kept = np.zeros(len(where), dtype=bool) if kept is None else np.asarray(kept)[where]
    kept[[0, -1]] = True
    open_points = ~kept  # the points between the ends of a segment not yet settled
    while True:
        inner = np.flatnonzero(open_points)
        if not len(inner):
            break
        ends = np.flatnonzero(kept)
        segment = np.searchsorted(ends, inner) - 1
        start, end = ends[segment], ends[segment + 1]
        ax, ay = px[start], py[start]
        dx, dy = px[end] - ax, py[end] - ay
        qx, qy = px[inner] - ax, py[inner] - ay
        length2 = dx * dx + dy * dy
        with np.errstate(invalid="ignore", divide="ignore"):
            t = np.clip(np.where(length2 > 0, (qx * dx + qy * dy) / length2, 0.0), 0.0, 1.0)
        distance = np.hypot(qx - t * dx, qy - t * dy)
        group = np.flatnonzero(np.r_[True, segment[1:] != segment[:-1]])  # segments' firsts
        farthest = np.maximum.reduceat(distance, group)
        sizes = np.diff(np.r_[group, len(inner)])
        split = (distance > tolerance) & (distance == np.repeat(farthest, sizes))
        chosen = np.flatnonzero(split)
        chosen = chosen[np.r_[True, segment[chosen][1:] != segment[chosen][:-1]]] if len(
            chosen) else chosen  # one per segment: its first farthest point
        kept[inner[chosen]] = True
        settled = np.repeat(farthest <= tolerance, sizes)  # no point beyond: all dropped
        open_points[inner[settled]] = False
        open_points[inner[chosen]] = False
    keep[where[kept]] = True
    return keep
