"""The ROC chart: one curve per class, micro and macro averages, AUC in the legend."""

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

MICRO_STYLE = {"color": "deeppink", "linestyle": "--"}
MACRO_STYLE = {"color": "navy", "linestyle": ":", "linewidth": 3.0}


def plot_roc_curve(
    evaluation: Evaluation,
    *,
    ax: Axes | None = None,
    max_legend_classes: int = LEGEND_CLASSES,
    thin: bool = True,
    legend: bool = True,
) -> CurvePlot:
    """Draw the one-vs-rest ROC curve of each class, the micro and macro averages, and the
    chance diagonal, with the AUC of each in the legend ("cat (AUC = 0.931)").

    A binary evaluation has a single curve, that of the positive class. Classes without
    positive or without negative samples have no ROC curve; they are listed in the legend as
    not drawn. With more than `max_legend_classes` classes every curve is still drawn, thin
    and grey, and the legend names the averages and the five classes of lowest AUC, drawn in
    colour. The macro curve's AUC is `evaluation.roc_auc`, the mean of the per-class AUCs.

    Args:
        evaluation: an `Evaluation` from `epoch_eval.evaluate()`.
        ax: where to draw; None draws on a new figure.
        max_legend_classes: the most classes the legend names one by one.
        thin: drop points no screen could show before drawing (see `thin_curve`).
        legend: make the legend (its entries are in the result's `legend_texts` either way).

    Returns:
        A `CurvePlot` holding the drawn artists.

    Raises:
        ValueError: when `evaluation.is_defined` is False.
    """
    check_drawable(evaluation, "roc_curve")
    ax = axes_or_new(ax, roc_curve_figsize(evaluation))
    classes = [Curve(c.label, c.fpr, c.tpr, c.auc) for c in evaluation.roc_curves]
    averages = [
        Curve(label, average.fpr, average.tpr, average.auc, style)
        for label, average, style in (("micro", evaluation.roc_micro, MICRO_STYLE),
                                      ("macro", evaluation.roc_macro, MACRO_STYLE))
        if average is not None
    ]
    chance = Curve("chance", np.array([0.0, 1.0]), np.array([0.0, 1.0]), 0.5)
    plot = draw_curve_chart(
        ax, classes=classes, averages=averages, chance=chance, metric="AUC",
        drawstyle="default", noun="label" if evaluation.task == "multilabel" else "class",
        max_legend_classes=max_legend_classes, thin=thin, legend=legend, inside_loc="lower right",
    )
    finish_unit_axes(ax, "False positive rate", "True positive rate")
    return plot


def roc_curve_figsize(evaluation: Evaluation) -> tuple[float, float]:
    """6.4x4.8 inches for binary (legend inside); wider for a legend beside the axes."""
    return curve_figsize(evaluation, "AUC")
