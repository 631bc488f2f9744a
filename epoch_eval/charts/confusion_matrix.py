"""The confusion matrix chart: counts and row-normalised rates, one cell per (true, predicted)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.colorbar import Colorbar
from matplotlib.colors import Colormap
from matplotlib.figure import Figure, SubFigure
from matplotlib.gridspec import GridSpecBase
from matplotlib.image import AxesImage
from matplotlib.ticker import PercentFormatter

from epoch_eval.charts._figure import (
    axes_or_new,
    axes_size_points,
    check_drawable,
    new_figure,
    short_name,
)
from epoch_eval.charts.shown_classes import MAX_SHOWN_CLASSES, ShownClasses, shown_classes
from epoch_eval.metrics.result import Evaluation

MULTILABEL_TICKS = ("negative", "positive")
MIN_CELL_FONT_SIZE = 5.5
"""Cell texts smaller than this (in points) are not drawn: at 100 dpi that is ~7 pixels."""
MAX_FONT_SIZE = 11.0
CELL_INCHES = 0.5
PANEL_INCHES = 2.3


@dataclass(frozen=True)
class MatrixPanel:
    """The artists of one drawn matrix.

    Attributes:
        ax: the Axes it fills.
        image: the `imshow` image; its array is the row-normalised rate (nan for a row
            without samples).
        texts: `(C, C)` object array of the cell `Text`s ("count\\nrate"; None for an empty
            cell of a sub-matrix), or None when the cells were too small for legible text.
        cell_points: the side of a cell in points when the font sizes were chosen.
    """

    ax: Axes
    image: AxesImage
    texts: np.ndarray | None
    cell_points: float = float("nan")


@dataclass(frozen=True)
class ConfusionMatrixPlot:
    """What `plot_confusion_matrix` drew.

    Attributes:
        panels: one `MatrixPanel`, or one per label for a multilabel evaluation.
        colorbar: the colour bar of the row-normalised rate, shared by all panels, or None.
        shown: which classes (labels) are drawn, and the drawn matrices.
    """

    panels: tuple[MatrixPanel, ...]
    colorbar: Colorbar | None
    shown: ShownClasses | None = None

    @property
    def ax(self) -> Axes:
        """The Axes of the first (for binary and multiclass, the only) panel."""
        return self.panels[0].ax


def plot_confusion_matrix(
    evaluation: Evaluation,
    *,
    ax: Axes | None = None,
    include_values: bool | None = None,
    cmap: str | Colormap = "Blues",
    colorbar: bool = True,
) -> ConfusionMatrixPlot:
    """Draw the confusion matrix of `evaluation`, rows true and columns predicted.

    Each cell shows its count (weighted counts formatted compactly) over its row-normalised
    rate ("12\\n80%"). The colour is the row-normalised rate, so that a rare class's errors are
    as visible as a frequent one's. Font sizes follow the size of a cell; when cells are too
    small for legible text (beyond about 50 classes in `render_chart`'s figure) the texts
    are left out.

    A multilabel evaluation gets one small 2x2 panel per label (rows and columns "negative"
    and "positive"), titled with the label's name, in a grid.

    Many classes: beyond 30 classes the chart shows the 30 most involved in errors (row plus
    column weight off the diagonal) and one "all other classes" row and column that sum the
    rest, so each row still adds up to its class' support; empty cells of that sub-matrix
    carry no text. Beyond 16 labels a multilabel grid shows the 16 labels with the most
    errors. The Axes title (multilabel: the figure's x label) says what was chosen; see
    `epoch_eval.charts.shown_classes`. Class names longer than 24 characters are cut with an
    ellipsis.

    Args:
        evaluation: an `Evaluation` from `epoch_eval.evaluate()`.
        ax: where to draw; None draws on a new figure. For a multilabel evaluation it is the
            bounding box of the grid, and must come from `add_subplot`/`subplots`.
        include_values: write the count and rate in each cell; None does so when legible.
        cmap: the colour map of the rate (name or `Colormap`).
        colorbar: add a colour bar of the rate.

    Returns:
        A `ConfusionMatrixPlot` holding the drawn artists.

    Raises:
        ValueError: when `evaluation.is_defined` is False, or a multilabel grid is asked for
            in an Axes that is not a subplot.
    """
    check_drawable(evaluation, "confusion_matrix")
    colour_map = (colormaps[cmap] if isinstance(cmap, str) else cmap).with_extremes(bad="0.85")
    shown = shown_classes(evaluation)
    if evaluation.task == "multilabel":
        panel_axes = _grid_axes(ax, len(shown.indices))
        panels = [_draw_matrix(panel_ax, matrix, MULTILABEL_TICKS, colour_map, include_values)
                  for matrix, panel_ax in zip(shown.matrices, panel_axes, strict=True)]
        _, cols = _grid_shape(len(panels))
        if shown.note:
            panels[0].ax.figure.supxlabel(shown.note, fontsize=9)
        for k, (panel, name) in enumerate(zip(panels, shown.names, strict=True)):
            panel.ax.set_title(short_name(name), fontsize=panel.ax.xaxis.label.get_fontsize(),
                               parse_math=False)
            if k % cols:
                panel.ax.set_ylabel("")
                panel.ax.tick_params(axis="y", labelleft=False)
            if k < len(panels) - cols:
                panel.ax.set_xlabel("")
    else:
        ax = ax if ax is not None else axes_or_new(None, confusion_matrix_figsize(evaluation))
        names = tuple(short_name(name) for name in shown.names)
        panels = [_draw_matrix(ax, shown.matrices[0], names, colour_map, include_values,
                               blank_zeros=not shown.is_all)]
        if shown.note:
            ax.set_title(shown.note, fontsize=9, parse_math=False)
    bar = None
    if colorbar:
        figure = panels[0].ax.figure
        bar = figure.colorbar(panels[0].image, ax=[panel.ax for panel in panels],
                              shrink=0.8 if len(panels) > 1 else 1.0, aspect=30,
                              format=PercentFormatter(xmax=1.0, decimals=0))
        bar.set_label("Row-normalised rate")
    return ConfusionMatrixPlot(tuple(panels), bar, shown)


def confusion_matrix_figsize(evaluation: Evaluation) -> tuple[float, float]:
    """A figure size in inches that keeps every cell text legible up to ~30 classes.

    About half an inch per shown class (capped at 14 inches of matrix, 12 for a sub-matrix of
    many classes), never below 6.4x4.8; for multilabel, 2.3 inches per shown label panel.
    """
    names = shown_classes(evaluation).names
    n = len(names)
    if evaluation.task == "multilabel":
        return _grid_figsize(n)
    side = min(max(n * CELL_INCHES, 3.6), 14.0 if n <= MAX_SHOWN_CLASSES else 12.0)
    tick_inches = _tick_font_size(side * 72.0 / n) / 72.0
    names_inches = 0.6 * tick_inches * max(len(short_name(name)) for name in names)
    # left: tick labels and "True label"; right: the colour bar and its labels
    width = side + names_inches + 0.5 + 1.2
    # below: (rotated) tick labels and "Predicted label"; above: the title
    below = names_inches * 0.75 if names_inches > side / n else 1.5 * tick_inches
    height = side + below + 0.5 + 0.5
    return max(6.4, width), max(4.8, height)


def _grid_shape(n: int) -> tuple[int, int]:
    """Rows and columns of a near-square grid of `n` panels, at most 10 wide."""
    cols = min(10, math.ceil(math.sqrt(n)))
    return math.ceil(n / cols), cols


def _grid_figsize(n: int) -> tuple[float, float]:
    rows, cols = _grid_shape(n)
    return max(6.4, cols * PANEL_INCHES + 1.4), max(4.8, rows * PANEL_INCHES + 0.6)


def _grid_axes(ax: Axes | None, n: int) -> list[Axes]:
    """`n` Axes in a grid: in a new figure, or inside the box of `ax` (which is hidden)."""
    rows, cols = _grid_shape(n)
    figure: Figure | SubFigure
    grid: GridSpecBase
    if ax is None:
        figure = new_figure(_grid_figsize(n))
        grid = figure.add_gridspec(rows, cols)
    else:
        spec = ax.get_subplotspec()
        if spec is None:
            raise ValueError("A multilabel confusion matrix draws a grid of panels inside `ax`, "
                             "which must come from `add_subplot` or `subplots`. Received an "
                             "Axes placed by `add_axes`.")
        figure = ax.figure
        ax.set_axis_off()
        grid = spec.subgridspec(rows, cols)
    return [figure.add_subplot(grid[k // cols, k % cols]) for k in range(n)]


def _draw_matrix(
    ax: Axes,
    matrix: np.ndarray,
    names: tuple[str, ...],
    colour_map: Colormap,
    include_values: bool | None,
    *,
    blank_zeros: bool = False,
) -> MatrixPanel:
    """Draw one square matrix of counts into `ax`, coloured by row-normalised rate; with
    `blank_zeros`, empty cells get no text."""
    n = len(names)
    rates = row_rates(matrix)
    image = ax.imshow(np.ma.masked_invalid(rates), cmap=colour_map, vmin=0.0, vmax=1.0,
                      interpolation="nearest", aspect="equal")
    width, height = axes_size_points(ax)
    cell = min(width, height) / n
    labels = cell_labels(matrix, rates, blank_zeros=blank_zeros)
    font_size = cell_font_size(cell, labels)
    texts = None
    if include_values or (include_values is None and font_size >= MIN_CELL_FONT_SIZE):
        texts = np.empty((n, n), dtype=object)
        for i in range(n):
            for j in range(n):
                if not labels[i][j]:
                    continue
                texts[i, j] = ax.text(j, i, labels[i][j], ha="center", va="center",
                                      fontsize=font_size,
                                      color=text_colour(colour_map, rates[i, j]),
                                      # inside the axes: the layout need not measure them
                                      in_layout=False)
    tick_size = _tick_font_size(cell)
    # class names are plain text: "$5-$10" must not be read as mathtext
    ax.set_xticks(np.arange(n), labels=names, fontsize=tick_size, parse_math=False)
    ax.set_yticks(np.arange(n), labels=names, fontsize=tick_size, parse_math=False)
    if max(len(name) for name in names) * 0.6 * tick_size > 0.9 * cell:
        if n > 30:
            ax.tick_params(axis="x", labelrotation=90)
        else:
            for label in ax.get_xticklabels():
                label.set(rotation=45, ha="right", rotation_mode="anchor")
    label_size = min(MAX_FONT_SIZE, max(7.0, tick_size + 1))
    ax.set_xlabel("Predicted label", fontsize=label_size)
    ax.set_ylabel("True label", fontsize=label_size)
    ax.set_ylim(n - 0.5, -0.5)
    ax.tick_params(length=0)
    return MatrixPanel(ax, image, texts, cell)


def row_rates(matrix: np.ndarray) -> np.ndarray:
    """Each cell divided by its row's total; nan for a row without samples."""
    totals = matrix.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, matrix / np.where(totals > 0, totals, 1.0), np.nan)


def cell_labels(matrix: np.ndarray, rates: np.ndarray, *,
                blank_zeros: bool = False) -> list[list[str]]:
    """The text of every cell, "count\\nrate"; "" for an empty cell with `blank_zeros`."""
    n = len(matrix)
    return [["" if blank_zeros and matrix[i, j] == 0 else _cell_label(matrix[i, j], rates[i, j])
             for j in range(n)] for i in range(n)]


def cell_font_size(cell_points: float, labels: list[list[str]]) -> float:
    """The font size that fits the widest label, on two lines, in a cell of `cell_points`."""
    widest = max(1, max(max(len(line) for line in label.split("\n")) for row in labels
                        for label in row))
    # a digit is ~0.6 em wide and a line ~1.2 em high: fit the widest label, two lines
    return min(MAX_FONT_SIZE, 0.85 * cell_points / (0.6 * widest), 0.8 * cell_points / 2.4)


def _tick_font_size(cell_points: float) -> float:
    return min(MAX_FONT_SIZE, max(4.0, 0.7 * cell_points))


def _cell_label(count: float, rate: float) -> str:
    """"count\\nrate" for one cell; only the count for an empty cell or a row without samples."""
    text = format_count(count)
    if np.isnan(rate) or count == 0:
        return text
    return f"{text}\n{format_rate(rate)}"


def format_count(count: float) -> str:
    """A count as an integer below 100,000 (weighted counts with up to 3 significant digits),
    compact above ("123k", "1.2M")."""
    if count >= 1e5:
        for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
            if count >= scale:
                return f"{count / scale:.3g}{suffix}"
    if float(count).is_integer():
        return f"{int(count)}"
    if count >= 100:
        return f"{count:.0f}"
    return f"{count:.3g}"


def format_rate(rate: float) -> str:
    """A rate as a whole percentage, never rounding a non-zero rate to "0%" or a rate below 1
    to "100%"."""
    if 0 < rate < 0.005:
        return "<1%"
    if 0.995 <= rate < 1:
        return ">99%"
    return f"{rate:.0%}"


def text_colour(colour_map: Colormap, rate: float) -> str:
    """Black or white, whichever reads better on the cell's colour."""
    if np.isnan(rate):
        return "black"
    red, green, blue, _ = colour_map(rate)
    return "white" if 0.299 * red + 0.587 * green + 0.114 * blue < 0.5 else "black"
