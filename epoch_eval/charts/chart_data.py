"""An epoch's charts as plain numbers that a web page draws itself: the confusion matrix's
shown cells, and the ROC and precision-recall curves simplified to about a pixel.

10-16 KB of JSON an epoch at 10 classes (1,000 to 50,000 rows: fewer rows, more visible
steps) where the three PNGs take about 285 KB, so a page can keep every epoch's charts. The
choices are those of the PNG charts: the same shown classes (`shown_classes`), the same
curves, averages and chance lines, and beyond `LEGEND_CLASSES` classes the `HIGHLIGHTED`
lowest-scoring ones (the PNG draws the others grey; here they are only counted, with their
score range).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from epoch_eval.charts._curves import HIGHLIGHTED, LEGEND_CLASSES
from epoch_eval.charts._figure import short_name
from epoch_eval.charts.shown_classes import shown_classes
from epoch_eval.charts.thinning import simplify_mask, thinning_mask
from epoch_eval.metrics.result import Evaluation

PAGE_TOLERANCE = 3e-3
"""How far (in units of the 0..1 axes) a simplified curve may stray: under a pixel of the
page's 320-pixel plots."""
SCALE = 1000
"""Curve coordinates are sent as integers in thousandths of the axes."""


def chart_data(evaluation: Evaluation) -> dict[str, Any]:
    """The data of the three charts, keyed by chart name; `{}` for an undefined evaluation."""
    if not evaluation.is_defined:
        return {}
    return {"confusion_matrix": matrix_data(evaluation),
            "roc_curve": roc_data(evaluation),
            "pr_curve": pr_data(evaluation)}


def matrix_data(evaluation: Evaluation) -> dict[str, Any]:
    """The shown confusion matrix: `names` and `cells` (rows true, columns predicted), or for
    multilabel one 2x2 `panels` entry per shown label; `note` says what was left out."""
    shown = shown_classes(evaluation)
    names = [short_name(name) for name in shown.names]
    if evaluation.task == "multilabel":
        panels = [{"name": name, "cells": _cells(matrix)}
                  for name, matrix in zip(names, shown.matrices, strict=True)]
        return {"panels": panels, "note": shown.note}
    return {"names": names, "cells": _cells(shown.matrices[0]), "note": shown.note}


def roc_data(evaluation: Evaluation) -> dict[str, Any]:
    """The ROC chart's curves (false positive rate, true positive rate), AUC in the legend."""
    classes = [(c.label, c.fpr, c.tpr, c.auc) for c in evaluation.roc_curves]
    averages = [(label, curve.fpr, curve.tpr, curve.auc)
                for label, curve in (("micro", evaluation.roc_micro),
                                     ("macro", evaluation.roc_macro)) if curve is not None]
    data = _curves(evaluation, classes, averages, metric="AUC", steps=False)
    data["chance"] = [0.0, 0.0, 1.0, 1.0]
    return data


def pr_data(evaluation: Evaluation) -> dict[str, Any]:
    """The precision-recall chart's step curves (recall, precision), AP in the legend, and a
    binary task's chance line at the prevalence."""
    classes = [(c.label, c.recall, c.precision, c.average_precision)
               for c in evaluation.pr_curves]
    data = _curves(evaluation, classes, [], metric="AP", steps=True)
    data["chance"] = None
    if evaluation.task == "binary" and evaluation.pr_curves:
        prevalence = float(evaluation.pr_curves[0].prevalence)
        if np.isfinite(prevalence):
            data["chance"] = [0.0, prevalence, 1.0, prevalence]
    return data


def curve_points(x: np.ndarray, y: np.ndarray, *, steps: bool = False,
                 tolerance: float = PAGE_TOLERANCE) -> list[int]:
    """A curve as `[x0, y0, dx1, dy1, dx2, dy2, ...]` in thousandths of the axes (the first
    point, then each step from the point before: short numbers), simplified to within
    `tolerance` (plus half a thousandth of rounding). `steps`: the points are the corners of
    a `"steps-post"` staircase, which is drawn here as the polyline through its corners."""
    return simplified_points([(x, y)], steps=steps, tolerance=tolerance)[0]


def simplified_points(curves: list[tuple[np.ndarray, np.ndarray]], *, steps: bool,
                      tolerance: float = PAGE_TOLERANCE) -> list[list[int]]:
    """`curve_points` of several curves, simplified together in one vectorised call."""
    xs, ys = [], []
    for x, y in curves:
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        first = thinning_mask(x, y)  # bounds the work: a few thousand points at most
        if first is not None:
            x, y = x[first], y[first]
        if steps and len(x) > 1:
            corners_x = np.empty(2 * len(x) - 1)
            corners_y = np.empty(2 * len(x) - 1)
            corners_x[0::2], corners_x[1::2] = x, x[1:]
            corners_y[0::2], corners_y[1::2] = y, y[:-1]
            x, y = corners_x, corners_y
        xs.append(x)
        ys.append(y)
    if not xs:
        return []
    lengths = np.array([len(x) for x in xs])
    stops = np.cumsum(lengths)
    starts = stops - lengths
    ends = np.zeros(int(stops[-1]), dtype=bool)  # each curve's ends stay, so no segment
    ends[starts[lengths > 0]] = True              # joins two curves
    ends[stops[lengths > 0] - 1] = True
    all_x, all_y = np.concatenate(xs), np.concatenate(ys)
    keep = simplify_mask(all_x, all_y, tolerance=tolerance, kept=ends)
    scaled = np.rint(np.column_stack([all_x, all_y]) * SCALE).astype(np.int64)
    points = []
    for start, stop in zip(starts, stops, strict=True):
        kept = scaled[start:stop][keep[start:stop]]
        kept[1:] = np.diff(kept, axis=0)
        points.append(kept.ravel().tolist())
    return points


def _curves(evaluation: Evaluation, classes: list[tuple[str, np.ndarray, np.ndarray, float]],
            averages: list[tuple[str, np.ndarray, np.ndarray, float]], *, metric: str,
            steps: bool) -> dict[str, Any]:
    defined = [c for c in classes if np.isfinite(c[3])]
    named = defined
    others = None
    if len(defined) > LEGEND_CLASSES:
        lowest = set(sorted(range(len(defined)), key=lambda i: defined[i][3])[:HIGHLIGHTED])
        rest = [c[3] for i, c in enumerate(defined) if i not in lowest]
        others = {"count": len(rest), "low": min(rest), "high": max(rest)}
        named = [c for i, c in enumerate(defined) if i in lowest]  # in class order
    entries = [*named, *(c for c in averages if np.isfinite(c[3]))]
    points = simplified_points([(c[1], c[2]) for c in entries], steps=steps)
    drawn = [{"name": short_name(label), "score": round(float(score), 6), "points": p}
             for (label, _, _, score), p in zip(entries, points, strict=True)]
    return {
        "metric": metric,
        "noun": "label" if evaluation.task == "multilabel" else "class",
        "curves": drawn[:len(named)],
        "averages": drawn[len(named):],
        "others": others,
        "skipped": [short_name(c[0], 12) for c in classes if not np.isfinite(c[3])],
    }


def _cells(matrix: np.ndarray) -> list[list[float]]:
    """Counts as JSON numbers: integers as such, weighted counts to 4 significant digits."""
    return [[int(v) if float(v).is_integer() else float(f"{v:.4g}") for v in row]
            for row in np.asarray(matrix, dtype=np.float64)]
