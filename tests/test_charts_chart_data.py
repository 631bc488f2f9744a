"""`chart_data`: the numbers a page draws an epoch's charts from, and the simplification of
its curves."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from chart_evaluations import binary, multiclass, multilabel

from epoch_eval.charts.chart_data import PAGE_TOLERANCE, SCALE, chart_data, curve_points
from epoch_eval.charts.shown_classes import OTHER_CLASSES
from epoch_eval.charts.thinning import simplify_mask


def distance_to_polyline(px, py, x, y) -> np.ndarray:
    """Each point's distance to the polyline through (x, y), by brute force."""
    ax, ay, bx, by = x[:-1], y[:-1], x[1:], y[1:]
    dx, dy = bx - ax, by - ay
    length2 = np.where(dx * dx + dy * dy > 0, dx * dx + dy * dy, 1.0)
    t = np.clip(((px[:, None] - ax) * dx + (py[:, None] - ay) * dy) / length2, 0, 1)
    return np.hypot(px[:, None] - (ax + t * dx), py[:, None] - (ay + t * dy)).min(axis=1)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_simplified_curve_stays_within_the_tolerance_with_few_points(seed):
    rng = np.random.default_rng(seed)
    x = np.r_[0.0, np.sort(rng.random(3000)), 1.0]
    y = np.sqrt(x) + rng.normal(0, 1e-4, len(x))  # a smooth curve with sub-pixel noise
    keep = simplify_mask(x, y, tolerance=2e-3)
    assert keep[0] and keep[-1]
    assert keep.sum() < 60  # where thin_curve keeps thousands
    assert distance_to_polyline(x, y, x[keep], y[keep]).max() <= 2e-3


def test_simplify_keeps_the_corners_of_a_staircase_and_drops_nan():
    x = np.array([0, 0, 0.5, 0.5, 1, 1, np.nan])
    y = np.array([0, 0.5, 0.5, 1, 1, 1, 0.3])
    keep = simplify_mask(x, y, tolerance=1e-3)
    assert keep.tolist() == [True, True, True, True, False, True, False]


def test_pr_points_trace_the_steps_of_the_curve():
    recall = np.array([1.0, 0.5, 0.5, 0.0])
    precision = np.array([0.5, 0.6, 0.8, 1.0])
    points = np.cumsum(np.reshape(curve_points(recall, precision, steps=True), (-1, 2)), axis=0)
    pairs = [tuple(pair) for pair in points.tolist()]
    # steps-post: from each point level to the next x, then to the next y
    assert pairs == [(1000, 500), (500, 500), (500, 800), (0, 800), (0, 1000)]


def test_matrix_cells_and_curves_of_a_multiclass_evaluation():
    evaluation = multiclass(4, n=2000, seed=1)
    data = chart_data(evaluation)
    matrix = data["confusion_matrix"]
    assert matrix["names"] == list(evaluation.class_names) and matrix["note"] == ""
    assert matrix["cells"] == evaluation.confusion_matrix.tolist()
    roc = data["roc_curve"]
    assert [c["name"] for c in roc["averages"]] == ["micro", "macro"]
    for curve, source in zip(roc["curves"], evaluation.roc_curves, strict=True):
        assert curve["score"] == pytest.approx(source.auc, abs=1e-6)
        points = np.cumsum(np.reshape(curve["points"], (-1, 2)), axis=0) / SCALE
        assert len(points) < len(source.fpr) / 3
        distance = distance_to_polyline(source.fpr, source.tpr, points[:, 0], points[:, 1])
        assert distance.max() <= PAGE_TOLERANCE + 0.5 * np.sqrt(2) / SCALE  # plus rounding
    assert data["pr_curve"]["averages"] == [] and data["pr_curve"]["chance"] is None


def test_binary_pr_chart_has_its_chance_line_at_the_prevalence():
    evaluation = binary(seed=3)
    prevalence = evaluation.pr_curves[0].prevalence
    assert chart_data(evaluation)["pr_curve"]["chance"] == [0.0, prevalence, 1.0, prevalence]


def test_many_classes_keep_the_charts_choices():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        evaluation = multiclass(40, n=800, seed=4)
    data = chart_data(evaluation)
    matrix = data["confusion_matrix"]
    assert len(matrix["names"]) == 31 and matrix["names"][-1] == OTHER_CLASSES
    assert "30 of 40 classes shown" in matrix["note"]
    roc = data["roc_curve"]
    aucs = sorted(c.auc for c in evaluation.roc_curves if c.auc == c.auc)
    assert sorted(c["score"] for c in roc["curves"]) == pytest.approx(aucs[:5], abs=1e-6)
    assert roc["others"]["count"] == len(aucs) - 5
    assert roc["others"]["high"] == pytest.approx(aucs[-1])


def test_multilabel_has_one_panel_per_label():
    evaluation = multilabel(3, seed=2)
    panels = chart_data(evaluation)["confusion_matrix"]["panels"]
    assert [p["name"] for p in panels] == list(evaluation.class_names)
    assert [p["cells"] for p in panels] == evaluation.confusion_matrix.tolist()
