"""What the ROC and precision-recall charts share: one curve per class, averages, a chance
line and a legend that stays legible for a hundred classes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from matplotlib.axes import Axes
from matplotlib.cbook import STEP_LOOKUP_MAP
from matplotlib.collections import LineCollection
from matplotlib.legend import Legend
from matplotlib.lines import Line2D

from epoch_eval.charts._figure import class_colors, short_name
from epoch_eval.charts.thinning import thin_curve
from epoch_eval.metrics.result import Evaluation

HIGHLIGHTED = 5
"""How many classes, the lowest-scoring, a chart with too many classes names in its legend."""
OTHERS_COLOUR = "0.65"
LEGEND_CLASSES = 10
"""The default of `max_legend_classes`: the most classes a legend names one by one."""
INSIDE_LEGEND_ENTRIES = 4
"""A legend with more entries than this goes to the right of the axes, off the curves."""


@dataclass(frozen=True)
class Curve:
    """One curve to draw: `x`, `y` in 0..1 and the `score` (AUC or AP) named in the legend."""

    label: str
    x: np.ndarray
    y: np.ndarray
    score: float
    style: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CurvePlot:
    """What `plot_roc_curve` or `plot_pr_curve` drew.

    Attributes:
        ax: the Axes drawn into.
        lines: one `Line2D` per class drawn in colour, keyed by class name: every drawn class,
            or for many classes the few named in the legend (classes whose score is undefined
            are not drawn).
        micro_line, macro_line: the averaged curves, or None (binary, or no micro average).
        chance_line: the line of a random ranking, or None.
        legend: the legend, or None.
        legend_classes: the classes named in the legend: all of them, or for many classes the
            few with the lowest score (the others are drawn thin and grey).
        skipped: classes not drawn because their curve is undefined (no positive sample, or
            for ROC no negative sample).
        legend_texts: the text of each legend entry (also when no legend was made).
        others: for many classes, the thin grey curves of the classes not named in the legend,
            as one `LineCollection` (a thousand `Line2D`s cost 0.3 ms each to draw); its i-th
            segment is the polyline drawn for `other_classes[i]` (thinned, and for a
            step-drawn curve the steps' corners). None when every class is named.
        other_classes: the classes in `others`, in its order.
    """

    ax: Axes
    lines: dict[str, Line2D]
    micro_line: Line2D | None
    macro_line: Line2D | None
    chance_line: Line2D | None
    legend: Legend | None
    legend_classes: tuple[str, ...]
    skipped: tuple[str, ...]
    legend_texts: tuple[str, ...] = ()
    others: LineCollection | None = None
    other_classes: tuple[str, ...] = ()


def draw_curve_chart(
    ax: Axes,
    *,
    classes: Sequence[Curve],
    averages: Sequence[Curve],
    chance: Curve | None,
    metric: str,
    drawstyle: str,
    noun: str,
    max_legend_classes: int,
    thin: bool,
    inside_loc: Literal["lower right", "lower left"],
    legend: bool = True,
) -> CurvePlot:
    """Draw per-class curves, their averages and a chance line, then a legible legend.

    When more than `max_legend_classes` classes are defined, every class is still drawn, but
    thin and grey, except the `HIGHLIGHTED` classes with the lowest score, which get colours and
    legend entries; one more entry stands for the others and gives their score range. A
    hundred colours could not be told apart, and the weakest classes are what one looks for.
    """
    defined = [curve for curve in classes if not np.isnan(curve.score)]
    skipped = tuple(curve.label for curve in classes if np.isnan(curve.score))
    if len(defined) <= max_legend_classes:
        named = defined
    else:
        named = sorted(defined, key=lambda curve: curve.score)[: min(HIGHLIGHTED,
                                                                     max_legend_classes)]
    named_labels = {curve.label for curve in named}
    colours = dict(zip((c.label for c in named), class_colors(len(named)), strict=True))

    lines: dict[str, Line2D] = {}
    others = [curve for curve in defined if curve.label not in named_labels]
    for curve in defined:  # in class order
        if curve.label in named_labels:
            lines[curve.label] = _plot(ax, curve, drawstyle, thin, {
                "color": colours[curve.label], "linewidth": 1.5, "zorder": 3})
    collection = _plot_others(ax, others, drawstyle, thin) if others else None
    average_lines = {curve.label: _plot(ax, curve, drawstyle, thin,
                                        {"linewidth": 2.5, "zorder": 4, **curve.style})
                     for curve in averages if not np.isnan(curve.score)}
    chance_line = None
    if chance is not None:
        (chance_line,) = ax.plot(chance.x, chance.y, color="black", linestyle="--",
                                 linewidth=1.0, alpha=0.6, zorder=1)

    handles: list[Line2D] = []
    texts: list[str] = []
    for curve in averages:
        if curve.label in average_lines:
            handles.append(average_lines[curve.label])
            texts.append(legend_text(f"{curve.label}-average", metric, curve.score))
    for curve in named:
        handles.append(lines[curve.label])
        texts.append(legend_text(short_name(curve.label), metric, curve.score))
    if others:
        low = min(curve.score for curve in others)
        high = max(curve.score for curve in others)
        handles.append(Line2D([], [], color=OTHERS_COLOUR, linewidth=0.7))
        texts.append(f"{len(others)} other {plural(noun)} ({metric} {low:.3f}\u2013{high:.3f})")
    if chance is not None and chance_line is not None:
        handles.append(chance_line)
        texts.append(legend_text("Chance level", metric, chance.score))
    if skipped:
        shown = ", ".join(short_name(name, 12) for name in skipped[:3])
        more = f" +{len(skipped) - 3}" if len(skipped) > 3 else ""
        handles.append(Line2D([], [], linestyle="none"))
        texts.append(f"not drawn, {metric} undefined: {shown}{more}")
    if not defined:
        ax.text(0.5, 0.5, f"No curve to draw: {metric} is undefined for every {noun}",
                ha="center", va="center", transform=ax.transAxes, fontsize=9)

    made = None
    if handles and legend:
        font_size = 8 if len(handles) > INSIDE_LEGEND_ENTRIES else 9
        if len(handles) > INSIDE_LEGEND_ENTRIES:
            made = ax.legend(handles, texts, loc="upper left", bbox_to_anchor=(1.02, 1.0),
                               borderaxespad=0.0, fontsize=font_size, frameon=False)
            # the square axes shrink towards the left, so the legend beside them keeps the
            # room constrained layout made for it
            ax.set_anchor("W")
        else:
            made = ax.legend(handles, texts, loc=inside_loc, fontsize=font_size)
        for text in made.get_texts():
            text.set_parse_math(False)  # class names are plain text, "$" included
    return CurvePlot(ax, lines, average_lines.get("micro"), average_lines.get("macro"),
                     chance_line, made, tuple(curve.label for curve in named), skipped,
                     tuple(texts), collection, tuple(curve.label for curve in others))


def plural(noun: str) -> str:
    """ "classes" for "class", "labels" for "label"."""
    return noun + ("es" if noun.endswith("s") else "s")


def legend_text(name: str, metric: str, score: float) -> str:
    """The legend entry of one curve: "cat (AUC = 0.931)".

    Three decimals, not scikit-learn's two: a trained model's classes often all sit between
    0.99 and 1, where two decimals would show "1.00" for a class that is not perfect.
    """
    return f"{name} ({metric} = {score:.3f})"


def curve_figsize(evaluation: Evaluation, metric: str) -> tuple[float, float]:
    """6.4x4.8 inches when the legend fits inside the axes (binary); otherwise wide enough
    for square axes and the legend beside them, whose width follows the longest entry."""
    if evaluation.task == "binary":
        return 6.4, 4.8
    names = [short_name(name) for name in evaluation.class_names] + ["macro-average"]
    entry = max(len(name) for name in names) + len(legend_text("", metric, 0.0))
    if len(names) - 1 > LEGEND_CLASSES:
        entry = max(entry, len(f"100 other classes ({metric} 0.000\u20130.000)"))
    # axes (with their tick labels) ~5.2 in; an entry: a 0.45 in handle, ~0.065 in a character
    return min(max(6.4, 5.2 + 0.55 + 0.065 * entry), 9.6), 5.2


def finish_unit_axes(ax: Axes, xlabel: str, ylabel: str) -> None:
    """Square 0..1 axes with a light grid, as scikit-learn's curve displays."""
    ax.set(xlabel=xlabel, ylabel=ylabel, xlim=(-0.01, 1.01), ylim=(-0.01, 1.01),
           aspect="equal")
    ax.grid(True, linewidth=0.5, alpha=0.4)


def _plot_others(ax: Axes, others: Sequence[Curve], drawstyle: str,
                 thin: bool) -> LineCollection:
    """The grey curves, one `LineCollection`: each is its own path, so where they cross the
    grey darkens as it does for separate lines."""
    steps = STEP_LOOKUP_MAP[drawstyle]
    segments = []
    for curve in others:
        x, y = thin_curve(curve.x, curve.y) if thin else (curve.x, curve.y)
        segments.append(np.column_stack(steps(x, y)))
    collection = LineCollection(segments, colors=OTHERS_COLOUR, linewidths=0.7, alpha=0.6,
                                zorder=2)
    ax.add_collection(collection, autolim=False)  # the limits are the unit square's
    return collection


def _plot(ax: Axes, curve: Curve, drawstyle: str, thin: bool, style: dict[str, Any]) -> Line2D:
    x, y = thin_curve(curve.x, curve.y) if thin else (curve.x, curve.y)
    (line,) = ax.plot(x, y, drawstyle=drawstyle, label=curve.label, **style)
    return line
