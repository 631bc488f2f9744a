"""Shared helpers of the chart modules: fresh Agg figures, refusal of undefined evaluations,
class colours and label shortening. No pyplot anywhere."""

from __future__ import annotations

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from epoch_eval.metrics.result import Evaluation

DPI = 100
MAX_NAME_CHARS = 24


def new_figure(figsize: tuple[float, float]) -> Figure:
    """A fresh figure on its own Agg canvas, with constrained layout and no pyplot state."""
    figure = Figure(figsize=figsize, dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def axes_or_new(ax: Axes | None, figsize: tuple[float, float]) -> Axes:
    """`ax` itself, or the single Axes of a new figure of `figsize` inches."""
    return ax if ax is not None else new_figure(figsize).add_subplot()


def check_drawable(evaluation: Evaluation, chart: str) -> None:
    """Refuse an evaluation whose metrics are all nan.

    Raises:
        ValueError: when `evaluation.is_defined` is False, giving its `undefined_reason`.
    """
    if not evaluation.is_defined:
        raise ValueError(f"Cannot draw chart {chart!r}: the evaluation is undefined, its "
                         f"metrics are nan ({evaluation.undefined_reason}).")


def class_colors(n: int) -> list[tuple[float, float, float, float]]:
    """`n` distinct colours: tab10 up to 10, tab20 up to 20, then evenly spaced on turbo."""
    if n <= 10:
        return [colormaps["tab10"](i) for i in range(n)]
    if n <= 20:
        return [colormaps["tab20"](i) for i in range(n)]
    return [colormaps["turbo"](x) for x in np.linspace(0.05, 0.95, n)]


def short_name(name: str, limit: int = MAX_NAME_CHARS) -> str:
    """`name`, cut to `limit` characters with an ellipsis, so that a long class name cannot
    squeeze the plot away."""
    return name if len(name) <= limit else name[: limit - 1] + "\u2026"


def axes_size_points(ax: Axes) -> tuple[float, float]:
    """Width and height of `ax` in points, from its current (pre-layout) position."""
    box = ax.get_window_extent()
    points_per_pixel = 72.0 / ax.figure.dpi
    return box.width * points_per_pixel, box.height * points_per_pixel
