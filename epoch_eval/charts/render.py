"""Render a named chart of an `Evaluation` to a fresh figure, and save it as a PNG atomically."""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from epoch_eval.atomic_file import write_atomically
from epoch_eval.charts._figure import check_drawable, new_figure
from epoch_eval.charts.confusion_matrix import confusion_matrix_figsize, plot_confusion_matrix
from epoch_eval.charts.png import encode_png
from epoch_eval.charts.pr_curve import plot_pr_curve, pr_curve_figsize
from epoch_eval.charts.roc_curve import plot_roc_curve, roc_curve_figsize
from epoch_eval.metrics.result import Evaluation

CHART_NAMES: tuple[str, ...] = ("confusion_matrix", "roc_curve", "pr_curve")
CHART_TITLES: dict[str, str] = {
    "confusion_matrix": "Confusion matrix",
    "roc_curve": "ROC curve",
    "pr_curve": "Precision-recall curve",
}
_CHARTS: dict[str, tuple[Callable[..., Any], Callable[[Evaluation], tuple[float, float]]]] = {
    "confusion_matrix": (plot_confusion_matrix, confusion_matrix_figsize),
    "roc_curve": (plot_roc_curve, roc_curve_figsize),
    "pr_curve": (plot_pr_curve, pr_curve_figsize),
}


def check_chart_names(names: Any) -> tuple[str, ...]:
    """Return `names` as a tuple after checking each is a known chart.

    Raises:
        ValueError: for a name not in `CHART_NAMES` (or a bare string instead of a sequence).
    """
    if isinstance(names, str):
        raise ValueError(f"Invalid `charts` argument value. Expected a sequence of chart "
                         f"names from {CHART_NAMES}. Received: charts={names!r}")
    names = tuple(names)
    for name in names:
        _check_chart_name(name)
    return names


def render_chart(name: str, evaluation: Evaluation, *, title: str | None = None) -> Figure:
    """Draw chart `name` of `evaluation` on a new figure sized for its class count.

    The figure is a `matplotlib.figure.Figure` on its own Agg canvas, unknown to pyplot, with
    constrained layout so that nothing is cut off. Save it with `save_png_atomically`, which
    also releases it.

    Args:
        name: one of `CHART_NAMES`.
        evaluation: an `Evaluation` from `epoch_eval.evaluate()`.
        title: the figure's title, such as "Epoch 3 \u2014 ROC curve"; default the chart's
            name ("ROC curve").

    Returns:
        The drawn figure.

    Raises:
        ValueError: for an unknown chart name, or an evaluation that is undefined
            (`evaluation.is_defined` is False; the message gives its reason).
    """
    _check_chart_name(name)
    check_drawable(evaluation, name)
    draw, figsize = _CHARTS[name]
    figure = new_figure(figsize(evaluation))
    try:
        ax: Axes = figure.add_subplot()
        draw(evaluation, ax=ax)
        figure.suptitle(CHART_TITLES[name] if title is None else title)
    except BaseException:
        figure.clear()
        raise
    return figure


def save_png_atomically(figure: Figure, path: str | os.PathLike[str], *,
                        release: bool = True) -> Path:
    """Write `figure` as a PNG to `path` so that `path` is never seen half-written.

    The PNG goes first to a hidden temporary file in the same directory (".{name}.XXXX.tmp",
    created with the usual permissions), is flushed to disk, and is then renamed over `path`
    with `os.replace`, which is atomic on POSIX and Windows. On any failure the temporary file
    is removed and the error propagates. The image is exactly the figure's size in pixels at
    its own dpi, whatever the user's `savefig` settings.

    Args:
        figure: the figure to save, as `render_chart` returns it.
        path: the PNG file to create or replace; its directory must exist.
        release: clear the figure afterwards (also on failure), freeing its artists at once.

    Returns:
        `path` as a `Path`.

    Raises:
        OSError: when the directory is missing or not writable, or the disk is full.
    """
    stream = io.BytesIO()
    try:
        _write_png(figure, stream)
    finally:
        if release:
            figure.clear()
    return write_atomically(path, stream.getvalue())


def _write_png(figure: Figure, stream: Any) -> None:
    """Draw `figure` once at its own size and dpi and encode the pixels as PNG.

    `savefig` would draw twice (once to run the constrained layout, once to render); drawing
    the canvas runs the layout and renders in one pass, for the same pixels. A user's
    `savefig.*` settings cannot change the file either.
    """
    canvas = figure.canvas
    if not isinstance(canvas, FigureCanvasAgg):
        canvas = FigureCanvasAgg(figure)
    canvas.draw()
    stream.write(encode_png(np.asarray(canvas.buffer_rgba()), figure.dpi))


def write_chart_png(name: str, evaluation: Evaluation, path: str | os.PathLike[str], *,
                    title: str | None = None) -> Path:
    """`render_chart` then `save_png_atomically`: draw chart `name` and write it to `path`.

    Raises:
        ValueError: as `render_chart`.
        OSError: as `save_png_atomically`.
    """
    return save_png_atomically(render_chart(name, evaluation, title=title), path)


def chart_title(name: str, epoch: int | None = None) -> str:
    """"Epoch 3 \u2014 ROC curve", or the chart's name alone without an epoch."""
    _check_chart_name(name)
    return CHART_TITLES[name] if epoch is None else f"Epoch {epoch} \u2014 {CHART_TITLES[name]}"


def chart_png(name: str, evaluation: Evaluation, *, epoch: int | None = None) -> bytes:
    """Chart `name` of `evaluation` as PNG bytes, titled with `epoch` when given.

    Raises:
        ValueError: as `render_chart`.
    """
    figure = render_chart(name, evaluation, title=chart_title(name, epoch))
    stream = io.BytesIO()
    try:
        _write_png(figure, stream)
    finally:
        figure.clear()
    return stream.getvalue()


def _check_chart_name(name: str) -> None:
    if name not in _CHARTS:
        raise ValueError(f"Unknown chart name. Expected one of {CHART_NAMES}. "
                         f"Received: {name!r}")
