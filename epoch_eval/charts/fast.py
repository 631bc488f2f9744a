"""`FastCharts`: the charts of successive epochs, drawn for a fraction of a fresh figure's cost.

A chart's cost is its static frame (axes, ticks, labels, colour bar, constrained layout) and
its text, not its data. The first epoch of each chart is drawn in full by the public `plot_*`
functions on a figure kept for the whole `fit`; the pixels of its static part are saved. Each
later epoch restores them and draws only what changed (`draw_artist`): the curves and legend,
the matrix image, the title. The matrix's cell texts are pasted as glyph images, each line
rendered once by Matplotlib and kept (a count or a percentage recurs from epoch to epoch).
When a change would move the frame (another figure size, a legend that no longer fits, new
cell font size), the chart is drawn in full again. Same content as `chart_png`, pixel for
pixel but for text placement, which may differ by a fraction of a pixel.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from functools import cache
from typing import Any

import numpy as np
from matplotlib import font_manager, ft2font
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import Colormap
from matplotlib.figure import Figure
from matplotlib.transforms import IdentityTransform

from epoch_eval.charts._curves import INSIDE_LEGEND_ENTRIES
from epoch_eval.charts._figure import check_drawable, new_figure
from epoch_eval.charts.confusion_matrix import (
    MIN_CELL_FONT_SIZE,
    cell_font_size,
    cell_labels,
    confusion_matrix_figsize,
    plot_confusion_matrix,
    row_rates,
)
from epoch_eval.charts.png import encode_png
from epoch_eval.charts.pr_curve import plot_pr_curve, pr_curve_figsize
from epoch_eval.charts.render import chart_title, check_chart_names
from epoch_eval.charts.roc_curve import plot_roc_curve, roc_curve_figsize
from epoch_eval.charts.shown_classes import shown_classes
from epoch_eval.charts.thinning import thin_evaluation
from epoch_eval.metrics.result import Evaluation

MISSING_GLYPH = "\ufffd"


class FastCharts:
    """Draws chart PNGs for one `fit`, keeping what does not change between epochs.

    Not thread-safe: one drawing thread at a time. `take_notes()` returns what the user
    should be told (such as class names the font cannot show), once.

    Example:
        >>> charts = FastCharts()
        >>> png = charts.png("roc_curve", evaluation, epoch=3)
    """

    def __init__(self) -> None:
        self._notes: list[str] = []
        self._names: dict[tuple[str, ...], tuple[str, ...]] = {}
        self._frames: dict[str, _Frame] = {}
        self._glyphs = _TextImages()

    def png(self, name: str, evaluation: Evaluation, epoch: int) -> bytes:
        """Chart `name` of `evaluation`, titled with `epoch`, as PNG bytes.

        Raises:
            ValueError: for an unknown chart name or an undefined evaluation.
        """
        check_chart_names((name,))
        check_drawable(evaluation, name)
        evaluation = thin_evaluation(self._font_safe(evaluation))
        title = chart_title(name, epoch)
        frame = self._frames.pop(name, None)
        if frame is None or not frame.update(evaluation, title):
            if frame is not None:
                frame.release()
            frame = _FRAMES[name](evaluation, title, self._glyphs)
        self._frames[name] = frame
        return frame.png()

    def take_notes(self) -> list[str]:
        """What the user should be told since the last call."""
        notes, self._notes = self._notes, []
        return notes

    def _font_safe(self, evaluation: Evaluation) -> Evaluation:
        """`evaluation` with the characters of class names that the font lacks replaced by
        U+FFFD (Matplotlib would print a warning per chart on the user's terminal), said once."""
        names = evaluation.class_names
        if names not in self._names:
            safe = tuple("".join(c if has_glyph(c) else MISSING_GLYPH for c in name)
                         for name in names)
            changed = [name for name, new in zip(names, safe, strict=True) if name != new]
            if changed:
                self._notes.append(f"the chart font ({default_font_name()}) cannot show some "
                                   f"characters of the class names {changed[:5]}; they are "
                                   f"drawn as {MISSING_GLYPH}")
            self._names[names] = safe
        renamed = dict(zip(names, self._names[names], strict=True))
        if all(name == new for name, new in renamed.items()):
            return evaluation
        return dataclasses.replace(
            evaluation, class_names=tuple(renamed.values()),
            roc_curves=tuple(dataclasses.replace(c, label=renamed.get(c.label, c.label))
                             for c in evaluation.roc_curves),
            pr_curves=tuple(dataclasses.replace(c, label=renamed.get(c.label, c.label))
                            for c in evaluation.pr_curves))


class _Frame:
    """One chart's figure, kept between epochs, and the pixels of its static part."""

    def __init__(self, figsize: tuple[float, float], title: str) -> None:
        self.figsize = figsize
        self.figure = new_figure(figsize)
        self.canvas: FigureCanvasAgg = self.figure.canvas  # type: ignore[assignment]
        self.title = self.figure.suptitle(title)
        self.title.set_animated(True)
        self.background: Any = None

    def freeze(self) -> None:
        """Lay the figure out and draw its static part once; later draws keep this layout."""
        self.canvas.draw()  # constrained layout, then everything not animated
        self.figure.set_layout_engine("none")
        self.background = self.canvas.copy_from_bbox(self.figure.bbox)

    def redraw(self, artists: list[Artist]) -> None:
        """The static pixels, then `artists` in z-order."""
        self.canvas.restore_region(self.background)
        for artist in sorted(artists, key=lambda a: a.get_zorder()):
            self.figure.draw_artist(artist)
        self.figure.draw_artist(self.title)

    def pixels(self) -> np.ndarray:
        return np.asarray(self.canvas.buffer_rgba())

    def png(self) -> bytes:
        return encode_png(self.pixels(), self.figure.dpi)

    def release(self) -> None:
        self.figure.clear()

    def update(self, evaluation: Evaluation, title: str) -> bool:
        """Draw `evaluation` on the kept frame; False when it needs a new frame."""
        raise NotImplementedError


class _CurveFrame(_Frame):
    """ROC or precision-recall: the curves, the chance line and the legend change.

    A legend beside the axes (multiclass, multilabel) stays in the static pixels with its
    scores blanked (digits drawn as figure spaces, which are as wide); each epoch pastes the
    new digits into those slots. A legend inside the axes (binary: two entries over the
    curves) is drawn each epoch.
    """

    plot: Callable[..., Any]
    figsize_of: Callable[[Evaluation], tuple[float, float]]

    def __init__(self, evaluation: Evaluation, title: str, glyphs: _TextImages) -> None:
        super().__init__(type(self).figsize_of(evaluation), title)
        self.glyphs = glyphs
        self.ax: Axes = self.figure.add_subplot()
        self.task = evaluation.task
        plot = type(self).plot(evaluation, ax=self.ax)
        self.artists = self._dynamic()
        legend = plot.legend
        self.static_legend = legend is not None and len(plot.legend_texts) > INSIDE_LEGEND_ENTRIES
        self.blanked = tuple(_blank_scores(text) for text in plot.legend_texts)
        if legend is not None and self.static_legend:
            texts = legend.get_texts()
            for text, blanked in zip(texts, self.blanked, strict=True):
                text.set_text(blanked)
        elif legend is not None:
            legend.set_animated(True)
            self.artists.append(legend)
        self.freeze()
        self.slots: list[tuple[float, float, float]] = []
        if legend is not None and self.static_legend:
            self.slots = self._digit_places(legend, plot.legend_texts)
        self.draw(plot.legend_texts)

    def update(self, evaluation: Evaluation, title: str) -> bool:
        if evaluation.task != self.task or type(self).figsize_of(evaluation) != self.figsize:
            return False
        for artist in self.artists:
            artist.remove()
        plot = type(self).plot(evaluation, ax=self.ax, legend=not self.static_legend)
        self.artists = self._dynamic()
        if self.static_legend:
            if tuple(_blank_scores(text) for text in plot.legend_texts) != self.blanked:
                return False  # other entries: the legend must be laid out again
        else:
            legend = self.ax.get_legend()
            if legend is not None:
                legend.set_animated(True)
                self.artists.append(legend)
                if not _fits(legend, self.figure):
                    return False
        self.title.set_text(title)
        self.draw(plot.legend_texts)
        return True

    def draw(self, legend_texts: tuple[str, ...]) -> None:
        # the axes' frame goes over the curves, as in a full draw
        self.redraw([*self.artists, *self.ax.spines.values()])
        if not self.static_legend:
            return
        pixels = self.pixels()
        digits = [c for text in legend_texts for c in _score_digits(text)]
        for (x, y, size), digit in zip(self.slots, digits, strict=True):
            self.glyphs.paste(pixels, digit, size, (x, y), _BLACK, anchor=("left", "baseline"))

    def _dynamic(self) -> list[Artist]:
        artists: list[Artist] = [*self.ax.lines, *self.ax.collections, *self.ax.texts]
        for artist in artists:
            artist.set_animated(True)
        return artists

    def _digit_places(self, legend: Any,
                      texts: tuple[str, ...]) -> list[tuple[float, float, float]]:
        """Pixel (x, y from the top) of the baseline-left of every score digit."""
        renderer = self.canvas.get_renderer()
        height = self.figure.bbox.height
        places = []
        for artist, text in zip(legend.get_texts(), texts, strict=True):
            x0, y0 = artist.get_transform().transform(artist.get_unitless_position())
            prop = artist.get_fontproperties()
            for index in _score_digit_indices(text):
                width = renderer.get_text_width_height_descent(text[:index], prop,
                                                               ismath=False)[0]
                places.append((x0 + width, height - y0, artist.get_fontsize()))
        return places


_SCORE = re.compile(r"\d\.\d{3}")
_BLACK = np.zeros(3)
FIGURE_SPACE = "\u2007"


def _score_spans(text: str) -> list[tuple[int, int]]:
    """Where the scores are in a legend entry: in its last parentheses, "d.ddd"."""
    start = text.rfind("(")
    if start < 0:
        return []
    return [(start + m.start(), start + m.end()) for m in _SCORE.finditer(text[start:])]


def _score_digit_indices(text: str) -> list[int]:
    return [i for a, b in _score_spans(text) for i in range(a, b) if text[i].isdigit()]


def _score_digits(text: str) -> list[str]:
    return [text[i] for i in _score_digit_indices(text)]


def _blank_scores(text: str) -> str:
    """`text` with the digits of its scores replaced by figure spaces (as wide as a digit)."""
    blank = set(_score_digit_indices(text))
    return "".join(FIGURE_SPACE if i in blank else c for i, c in enumerate(text))


class _RocFrame(_CurveFrame):
    plot = staticmethod(plot_roc_curve)
    figsize_of = staticmethod(roc_curve_figsize)


class _PrFrame(_CurveFrame):
    plot = staticmethod(plot_pr_curve)
    figsize_of = staticmethod(pr_curve_figsize)


def _fits(legend: Artist, figure: Figure) -> bool:
    """Whether `legend` lies inside the figure (the layout made room for the first one)."""
    box = legend.get_window_extent(figure.canvas.get_renderer())  # type: ignore[attr-defined]
    return (box.x0 >= 0 and box.y0 >= 0 and box.x1 <= figure.bbox.width
            and box.y1 <= figure.bbox.height)


@dataclasses.dataclass
class _Panel:
    """One matrix of a confusion-matrix frame and where its cell texts go."""

    ax: Axes
    image: Any
    font_size: float | None  # None: no cell text
    centres: np.ndarray  # (n, n, 2) pixel centres of the cells, (column, row from the top)
    cell_points: float


class _MatrixFrame(_Frame):
    """The confusion matrix: the image, the cell texts and the title change. With many
    classes, a change of the shown classes (their tick labels) needs a new frame."""

    def __init__(self, evaluation: Evaluation, title: str, glyphs: _TextImages) -> None:
        super().__init__(confusion_matrix_figsize(evaluation), title)
        self.glyphs = glyphs
        shown = shown_classes(evaluation)
        self.key = (evaluation.task, evaluation.class_names, shown.indices)
        self.blank_zeros = evaluation.task != "multilabel" and not shown.is_all
        ax = self.figure.add_subplot()
        plot = plot_confusion_matrix(evaluation, ax=ax)
        self.colour_map: Colormap = plot.panels[0].image.get_cmap()
        for panel in plot.panels:
            panel.image.set_animated(True)
            if panel.texts is not None:
                for text in panel.texts.flat:
                    if text is not None:
                        text.set_visible(False)  # pasted from glyph images instead
        self.freeze()
        height = self.figure.bbox.height
        self.panels = []
        for panel in plot.panels:
            n = panel.image.get_array().shape[0]  # type: ignore[union-attr]
            grid = np.stack(np.meshgrid(np.arange(n), np.arange(n)), axis=-1).reshape(-1, 2)
            centres = panel.ax.transData.transform(grid).reshape(n, n, 2)
            centres[..., 1] = height - centres[..., 1]
            font_size = None
            if panel.texts is not None:
                font_size = next(text.get_fontsize() for text in panel.texts.flat
                                 if text is not None)
            self.panels.append(_Panel(panel.ax, panel.image, font_size, centres,
                                      panel.cell_points))
        self.redraw_matrices(shown.matrices)

    def update(self, evaluation: Evaluation, title: str) -> bool:
        shown = shown_classes(evaluation)
        if ((evaluation.task, evaluation.class_names, shown.indices) != self.key
                or confusion_matrix_figsize(evaluation) != self.figsize):
            return False
        matrices = shown.matrices
        for panel, matrix in zip(self.panels, matrices, strict=True):
            labels = cell_labels(matrix, row_rates(matrix), blank_zeros=self.blank_zeros)
            size = cell_font_size(panel.cell_points, labels)
            legible = size >= MIN_CELL_FONT_SIZE
            if (size != panel.font_size) if panel.font_size is not None else legible:
                return False  # another font size, or cell texts where there were none
        self.title.set_text(title)
        self.redraw_matrices(matrices)
        return True

    def redraw_matrices(self, matrices: tuple[np.ndarray, ...]) -> None:
        for panel, matrix in zip(self.panels, matrices, strict=True):
            panel.image.set_data(np.ma.masked_invalid(row_rates(matrix)))
        self.redraw([artist for panel in self.panels
                     for artist in (panel.image, *panel.ax.spines.values())])
        pixels = self.pixels()
        for panel, matrix in zip(self.panels, matrices, strict=True):
            if panel.font_size is None:
                continue
            rates = row_rates(matrix)
            labels = cell_labels(matrix, rates, blank_zeros=self.blank_zeros)
            white = _white_text(self.colour_map, rates)
            for (i, j), label in np.ndenumerate(np.array(labels, dtype=object)):
                if not label:
                    continue
                colour = _WHITE if white[i, j] else _BLACK
                self.glyphs.paste(pixels, label, panel.font_size,
                                  (panel.centres[i, j, 0], panel.centres[i, j, 1]), colour)


_WHITE = np.full(3, 255.0)


def _white_text(colour_map: Colormap, rates: np.ndarray) -> np.ndarray:
    """Where `text_colour` says white, for every cell at once (one colour-map call instead of
    one per cell, which was half of a 10-class matrix's redraw)."""
    red, green, blue, _ = np.moveaxis(colour_map(np.nan_to_num(rates)), -1, 0)
    return ~np.isnan(rates) & (0.299 * red + 0.587 * green + 0.114 * blue < 0.5)


_FRAMES: dict[str, Callable[[Evaluation, str, _TextImages], _Frame]] = {
    "confusion_matrix": _MatrixFrame,
    "roc_curve": _RocFrame,
    "pr_curve": _PrFrame,
}


class _TextImages:
    """The coverage image of each piece of text, rendered once by Matplotlib and kept, so
    that drawing it again costs a few array operations instead of a layout and glyph
    rendering. A cell text ("count\\nrate", centred on its cell) is pasted line by line: each
    line's image is that of the same block with the other line empty, so it sits where
    Matplotlib puts it; a legend digit is pasted at its baseline.
    """

    SIZE = 200  # pixels of the scratch canvas's side

    def __init__(self) -> None:
        self._images: dict[tuple[str, float, tuple[str, str]], tuple[np.ndarray, int, int]] = {}
        self._figure = Figure(figsize=(self.SIZE / 100, self.SIZE / 100), dpi=100)
        self._canvas = FigureCanvasAgg(self._figure)
        self._text = self._figure.text(self.SIZE // 2, self.SIZE // 2, "",
                                       transform=IdentityTransform(), color="black")

    def paste(self, pixels: np.ndarray, text: str, font_size: float,
              position: tuple[float, float], colour: np.ndarray,
              anchor: tuple[str, str] = ("center", "center")) -> None:
        """Blend `text` in `colour` (RGB 0-255) at `position` (pixels, y from the top),
        aligned there as `anchor` (horizontal, vertical) says."""
        lines = text.split("\n")
        for index, line in enumerate(lines):
            block = "\n".join(line if k == index else "" for k in range(len(lines)))
            coverage, top, left = self._image(block, font_size, anchor)
            row = round(position[1]) + top
            column = round(position[0]) + left
            height, width = coverage.shape
            if row < 0 or column < 0 or row + height > pixels.shape[0] \
                    or column + width > pixels.shape[1]:
                continue
            region = pixels[row:row + height, column:column + width, :3]
            alpha = coverage[..., None]
            region[...] = (region * (1.0 - alpha) + colour * alpha + 0.5).astype(np.uint8)

    def _image(self, block: str, font_size: float,
               anchor: tuple[str, str]) -> tuple[np.ndarray, int, int]:
        key = (block, font_size, anchor)
        if key not in self._images:
            renderer = self._canvas.get_renderer()
            renderer.clear()
            self._text.set(text=block, fontsize=font_size, ha=anchor[0], va=anchor[1])
            self._text.draw(renderer)
            alpha = np.asarray(renderer.buffer_rgba())[..., 3].astype(np.float64) / 255.0
            rows = np.flatnonzero(alpha.any(axis=1))
            columns = np.flatnonzero(alpha.any(axis=0))
            if len(rows) == 0:
                self._images[key] = (np.zeros((0, 0)), 0, 0)
            else:
                # a copy: a view would keep the whole scratch image alive
                crop = alpha[rows[0]:rows[-1] + 1, columns[0]:columns[-1] + 1].copy()
                centre = self.SIZE // 2
                self._images[key] = (crop, int(rows[0]) - centre, int(columns[0]) - centre)
        return self._images[key]


@cache
def _default_font() -> ft2font.FT2Font:
    return ft2font.FT2Font(font_manager.findfont(font_manager.FontProperties()))


def default_font_name() -> str:
    """The family of Matplotlib's default font ("DejaVu Sans")."""
    return str(_default_font().family_name)


@cache
def has_glyph(character: str) -> bool:
    """Whether Matplotlib's default font draws `character` (controls count as drawable)."""
    return not character.isprintable() or _default_font().get_char_index(ord(character)) != 0

