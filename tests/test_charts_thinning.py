"""`thin_curve` keeps a curve within its tolerance with a few thousand points."""

from __future__ import annotations

import numpy as np
import pytest

from epoch_eval.charts import thin_curve


def distance_to_polyline(px, py, x, y, kept_index):
    """Distance from each original point to the thinned segment that spans it."""
    segment = np.clip(np.searchsorted(kept_index, np.arange(len(px)), side="right") - 1,
                      0, len(kept_index) - 2)
    ax, ay = x[segment], y[segment]
    bx, by = x[segment + 1], y[segment + 1]
    dx, dy = bx - ax, by - ay
    length2 = dx * dx + dy * dy
    t = np.where(length2 > 0, ((px - ax) * dx + (py - ay) * dy) / np.where(length2 > 0,
                                                                          length2, 1), 0)
    t = np.clip(t, 0, 1)
    return np.hypot(px - (ax + t * dx), py - (ay + t * dy))


def kept_indices(x, y, tx, ty):
    """Positions of the kept points in the original (they keep their order)."""
    index, j = [], 0
    for k in range(len(tx)):
        while not (x[j] == tx[k] and y[j] == ty[k]):
            j += 1
        index.append(j)
        j += 1
    return np.array(index)


def roc_like(n, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    order = np.argsort(-(0.2 * y + rng.random(n)))
    tps = np.r_[0, np.cumsum(y[order])]
    fps = np.r_[0, np.cumsum(1 - y[order])]
    return fps / fps[-1], tps / tps[-1]


def test_short_curves_are_returned_unchanged():
    x, y = np.linspace(0, 1, 100), np.linspace(0, 1, 100) ** 2
    tx, ty = thin_curve(x, y)
    assert tx is x and ty is y


@pytest.mark.parametrize("tolerance", [5e-4, 2e-3])
def test_monotone_curve_stays_within_tolerance(tolerance):
    x, y = roc_like(300_000)
    tx, ty = thin_curve(x, y, tolerance=tolerance)
    assert len(tx) <= 2 / tolerance + 2
    assert (tx[0], ty[0], tx[-1], ty[-1]) == (x[0], y[0], x[-1], y[-1])
    index = kept_indices(x, y, tx, ty)
    assert distance_to_polyline(x, y, tx, ty, index).max() < tolerance


def test_non_monotone_precision_recall_curve_stays_within_tolerance():
    rng = np.random.default_rng(1)
    n = 100_000
    truth = rng.random(n) < 0.1
    order = np.argsort(-(0.3 * truth + rng.random(n)))
    tps = np.cumsum(truth[order])
    precision = tps / np.arange(1, n + 1)
    recall = tps / tps[-1]
    tx, ty = thin_curve(recall, precision)
    assert len(tx) < 10_000
    assert (tx[0], ty[0], tx[-1], ty[-1]) == (recall[0], precision[0], recall[-1], precision[-1])
    index = kept_indices(recall, precision, tx, ty)
    assert distance_to_polyline(recall, precision, tx, ty, index).max() < 5e-4


def test_a_million_points_thin_quickly():
    import time

    x, y = roc_like(1_000_000)
    start = time.perf_counter()
    tx, _ = thin_curve(x, y)
    assert time.perf_counter() - start < 1.0
    assert len(tx) <= 4002


def test_thin_evaluation_keeps_small_curves_and_thins_large_ones():
    import numpy as np

    from epoch_eval import evaluate
    from epoch_eval.charts.thinning import thin_curve, thin_evaluation

    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 3, 60_000)
    scores = rng.dirichlet(np.ones(3), 60_000)
    big = evaluate(y_true, scores)
    thinned = thin_evaluation(big)
    for before, after in zip(big.roc_curves, thinned.roc_curves, strict=True):
        expected_x, expected_y = thin_curve(before.fpr, before.tpr)
        assert len(after.fpr) < len(before.fpr)
        np.testing.assert_array_equal(after.fpr, expected_x)
        np.testing.assert_array_equal(after.tpr, expected_y)
        assert len(after.thresholds) == len(after.fpr)
        assert set(after.thresholds) <= set(before.thresholds)
    for before, after in zip(big.pr_curves, thinned.pr_curves, strict=True):
        assert len(after.thresholds) == len(after.recall) - 1
        assert after.recall[-1] == 0.0 and after.precision[-1] == 1.0
        assert after.average_precision == before.average_precision
    assert thinned.scalars() == big.scalars()
    small = evaluate([0, 1, 1, 0], [0.2, 0.9, 0.4, 0.6])
    assert thin_evaluation(small).roc_curves[0] is small.roc_curves[0]
