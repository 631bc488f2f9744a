"""The weighted ranking's sort (`epoch_eval.metrics.descending`): 64-bit keys order as the
floats do, carry each score's row and class, and give the counts at the points where a curve
can turn."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics

from epoch_eval.metrics.descending import Descending, Workspace

SPECIAL = np.array([-np.inf, -3.5, -1e-45, -0.0, 0.0, 1e-45, 0.25, 1.0, 7.0, np.inf],
                   dtype=np.float32)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_scores_come_out_highest_first_with_their_rows(dtype) -> None:
    rng = np.random.default_rng(3)
    scores = rng.choice(SPECIAL, 500).astype(dtype)
    truth = rng.random(500) < 0.3
    ranked = Descending.of(scores, truth, Workspace())
    rows = (ranked.payload & (ranked.positive_flag - 1)).astype(np.intp)
    np.testing.assert_array_equal(np.sort(rows), np.arange(500))  # each row once
    np.testing.assert_array_equal(scores[rows], np.sort(scores)[::-1])
    np.testing.assert_array_equal(ranked.payload >= ranked.positive_flag, truth[rows])
    # the scores read back at any position are the scores sorted (-0.0 reads back as 0.0)
    decoded = ranked.scores_at(np.arange(500)).astype(dtype)
    np.testing.assert_array_equal(decoded, np.sort(scores)[::-1])
    # -0.0 and 0.0 tie, as they compare equal
    assert ranked.distinct() == len(np.unique(scores))


def test_pooled_scores_carry_the_row_of_every_column() -> None:
    rng = np.random.default_rng(4)
    scores = rng.random((50, 3)).astype(np.float32)
    truth = np.eye(3, dtype=bool)[rng.integers(0, 3, 50)]
    ranked = Descending.of(scores, truth, Workspace())
    rows = (ranked.payload & (ranked.positive_flag - 1)).astype(np.intp)
    order = np.argsort(scores, axis=None)[::-1]
    np.testing.assert_array_equal(rows, order // 3)
    np.testing.assert_array_equal(ranked.payload >= ranked.positive_flag, truth.ravel()[order])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_turning_counts_are_sklearn_counts_at_the_points_that_can_turn(dtype) -> None:
    """Every point of scikit-learn's counts that ends or precedes a step up in true
    positives, with its cumulative weights, in one piece or in pieces of whole runs."""
    rng = np.random.default_rng(5)
    scores = np.round(rng.random(3000), 2).astype(dtype)  # runs of about 30 ties
    truth = rng.random(3000) < 0.1
    weight = rng.choice([0.5, 1.0, 2.0, 3.0], 3000)
    _, fps, _, tps, thresholds = metrics.confusion_matrix_at_thresholds(
        truth, scores, sample_weight=weight)
    grows = np.diff(tps, prepend=0.0) != 0
    can_turn = grows | np.r_[grows[1:], True]
    can_turn[0] = True
    ranked = Descending.of(scores, truth, Workspace())
    whole = ranked.turning_counts(weight)
    np.testing.assert_array_equal(whole[0], fps[can_turn])
    np.testing.assert_array_equal(whole[1], tps[can_turn])
    np.testing.assert_array_equal(ranked.scores_at(whole[2]), thresholds[can_turn])

    pieces, start, carry = [], 0, (0.0, 0.0)
    while start < len(ranked):
        stop = ranked.run_boundary(start + 100, window=7)
        assert stop == len(ranked) or ranked.runs[stop] != ranked.runs[stop - 1]
        piece = ranked.turning_counts(weight, start, stop, carry)
        pieces.append(tuple(column.copy() for column in piece))  # they live in the workspace
        carry = (piece[0][-1], piece[1][-1])
        start = stop
    fps_pieces, tps_pieces, at_pieces = (np.concatenate(c) for c in zip(*pieces, strict=True))
    # each piece also keeps its first run's end, a point on a straight stretch
    assert set(whole[2]) <= set(at_pieces)
    kept = np.isin(at_pieces, whole[2])
    np.testing.assert_array_equal(fps_pieces[kept], whole[0])
    np.testing.assert_array_equal(tps_pieces[kept], whole[1])


def test_a_workspace_reuses_its_memory_for_smaller_arrays() -> None:
    workspace = Workspace()
    large = workspace.array("keys", 1000, np.uint64)
    small = workspace.array("keys", 10, np.float64)
    assert np.shares_memory(large, small)
    assert not np.shares_memory(workspace.array("other", 10, np.uint64), large)
    assert len(workspace.array("keys", 2000, np.uint64)) == 2000
