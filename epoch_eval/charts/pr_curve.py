"""The precision-recall chart: one step curve per class, average precision in the legend."""

from __future__ import annotations

import numpy as np
from matplotlib.axes import Axes

from epoch_eval.charts._curves import (
    LEGEND_CLASSES,
    Curve,
    CurvePlot,
    curve_figsize,
    draw_curve_chart,
    finish_unit_axes,
)
from epoch_eval.charts._figure import axes_or_new, check_drawable
from epoch_eval.metrics.result import Evaluation


def plot_pr_curve(
    evaluation: Evaluation,
    *,
    ax: Axes | None = None,
    max_legend_classes: int = LEGEND_CLASSES,
    thin: bool = True,
    legend: bool = True,
) -> CurvePlot:
    """Draw the one-vs-rest precision-recall curve of each class as a step curve
    (`drawstyle="steps-post"`, as scikit-learn's `PrecisionRecallDisplay`), with the average
    precision of each in the legend ("cat (AP = 0.884)").

    A binary evaluation has the positive class's curve and a chance line at its prevalence
    (the precision of a random ranking). Classes without positive samples have no curve;
    they are listed in the legend as not drawn. With more than `max_legend_classes` classes
    every curve is still drawn, thin and grey, and the legend names the five classes of
    lowest AP, drawn in colour.

    Args:
        evaluation: an `Evaluation` from `epoch_eval.evaluate()`.
        ax: where to draw; None draws on a new figure.
        max_legend_classes: the most classes the legend names one by one.
        thin: drop points no screen could show before drawing (see `thin_curve`).
        legend: make the legend (its entries are in the result's `legend_texts` either way).

    Returns:
        A `CurvePlot` holding the drawn artists (`micro_line` and `macro_line` are None).

    Raises:
        ValueError: when `evaluation.is_defined` is False.
    """
    check_drawable(evaluation, "pr_curve")
    ax = axes_or_new(ax, pr_curve_figsize(evaluation))
    classes = [Curve(c.label, c.recall, c.precision, c.average_precision)
               for c in evaluation.pr_curves]
    chance = None
    if evaluation.task == "binary" and evaluation.pr_curves:
        prevalence = evaluation.pr_curves[0].prevalence
        if not np.isnan(prevalence):
            chance = Curve("chance", np.array([0.0, 1.0]), np.array([prevalence, prevalence]),
                           prevalence)
    plot = draw_curve_chart(
        ax, classes=classes, averages=(), chance=chance, metric="AP",
        drawstyle="steps-post", noun="label" if evaluation.task == "multilabel" else "class",
        max_legend_classes=max_legend_classes, thin=thin, legend=legend, inside_loc="lower left",
    )
    finish_unit_axes(ax, "Recall", "Precision")
    return plot


def pr_curve_figsize(evaluation: Evaluation) -> tuple[float, float]:
    """6.4x4.8 inches for binary (legend inside); wider for a legend beside the axes."""
    return curve_figsize(evaluation, "AP")
