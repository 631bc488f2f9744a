"""Charts at many classes: the confusion matrix shows the classes most involved in errors, each
shown row still adds up to its support, tick labels stay legible and apart."""

from __future__ import annotations

import dataclasses
import io
import itertools
import math
import warnings
from functools import cache

import matplotlib.image
import numpy as np
import pytest
from chart_evaluations import multiclass, multilabel
from matplotlib.text import Text

from epoch_eval import Evaluation
from epoch_eval.charts import chart_png, plot_confusion_matrix, plot_roc_curve, render_chart
from epoch_eval.charts.fast import FastCharts
from epoch_eval.charts.shown_classes import OTHER_CLASSES, collapse, shown_classes
from epoch_eval.metrics.result import frozen_array

LONG_NAME = "n01440764 tench, Tinca tinca"


@cache
def classes(n_classes: int, long_names: bool = False) -> Evaluation:
    names: bool | list[str] = True
    if long_names:
        names = [f"n{k:08d} {LONG_NAME[10:]}" for k in range(n_classes)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # classes without samples at 1,000
        return multiclass(n_classes, n=max(600, 5 * n_classes), names=names)


@cache
def labels(n_labels: int) -> Evaluation:
    return multilabel(n_labels, n=400)


def rotated_boxes(texts: list[Text], renderer) -> list[tuple[float, float, float, float]]:
    """Each text's box in its own rotated frame: (u0, u1, v0, v1) in pixels."""
    boxes = []
    for text in texts:
        angle = math.radians(text.get_rotation())
        u = np.array([math.cos(angle), math.sin(angle)])
        v = np.array([-math.sin(angle), math.cos(angle)])
        # the drawn box, unrotated around its own centre, in the rotated frame
        box = text.get_window_extent(renderer)
        width, height, _ = renderer.get_text_width_height_descent(
            text.get_text(), text.get_fontproperties(), ismath=False)
        centre = np.array([(box.x0 + box.x1) / 2, (box.y0 + box.y1) / 2])
        cu, cv = float(centre @ u), float(centre @ v)
        boxes.append((cu - width / 2, cu + width / 2, cv - height / 2, cv + height / 2))
    return boxes


def overlapping(texts: list[Text], renderer, slack: float = 0.5) -> list[tuple[str, str]]:
    """Pairs of `texts` whose drawn boxes overlap by more than `slack` pixels (rotated texts
    are compared in their common rotated frame)."""
    texts = [t for t in texts if t.get_visible() and t.get_text()]
    assert len({t.get_rotation() for t in texts}) <= 1
    boxes = rotated_boxes(texts, renderer)
    pairs = []
    for (a, box_a), (b, box_b) in itertools.combinations(zip(texts, boxes, strict=True), 2):
        if (min(box_a[1], box_b[1]) - max(box_a[0], box_b[0]) > slack
                and min(box_a[3], box_b[3]) - max(box_a[2], box_b[2]) > slack):
            pairs.append((a.get_text(), b.get_text()))
    return pairs


def inside_figure(text: Text, renderer) -> bool:
    box = text.get_window_extent(renderer)
    figure = text.figure.bbox
    return box.x0 >= -0.5 and box.y0 >= -0.5 and box.x1 <= figure.x1 + 0.5 \
        and box.y1 <= figure.y1 + 0.5


@pytest.mark.parametrize("n_classes", [3, 30, 31, 100, 1000])
def test_every_shown_row_adds_up_to_its_support(n_classes):
    evaluation = classes(n_classes)
    figure = render_chart("confusion_matrix", evaluation, title="t")
    ax = figure.axes[0]
    figure.canvas.draw()
    shown = shown_classes(evaluation)
    support = np.asarray(evaluation.per_class.support)
    full = np.asarray(evaluation.confusion_matrix, dtype=float)
    drawn = shown.matrices[0]
    k = len(shown.indices)
    assert k == min(n_classes, 30)
    # the image is the row-normalised drawn matrix
    np.testing.assert_allclose(ax.images[0].get_array(),
                               drawn / drawn.sum(axis=1, keepdims=True))
    np.testing.assert_allclose(drawn[:k].sum(axis=1), support[list(shown.indices)])
    if n_classes <= 30:
        assert drawn.shape == (n_classes, n_classes)
        assert shown.note == "" and ax.get_title() == ""
        np.testing.assert_array_equal(drawn, full)
    else:
        assert drawn.shape == (31, 31)
        rest = np.setdiff1d(np.arange(n_classes), shown.indices)
        np.testing.assert_allclose(drawn[k].sum(), support[rest].sum())
        np.testing.assert_array_equal(drawn[:k, :k], full[np.ix_(shown.indices, shown.indices)])
        assert ax.get_title().startswith(f"30 of {n_classes:,} classes shown: those most "
                                         f"involved in errors")
        # the chosen classes are the most involved in errors
        involvement = full.sum(axis=0) + full.sum(axis=1) - 2 * np.diagonal(full)
        assert involvement[rest].max() <= involvement[list(shown.indices)].min()
        # cell texts: every non-empty cell, its count and rate
        texts = [t for t in ax.texts if t.get_text()]
        assert len(texts) == int(np.count_nonzero(drawn))
        for text in texts:
            j, i = text.get_position()
            assert text.get_text().split("\n")[0] == f"{drawn[int(i), int(j)]:g}"
    names = [*(evaluation.class_names[i] for i in shown.indices),
             *([OTHER_CLASSES] if n_classes > 30 else [])]
    renderer = figure.canvas.get_renderer()
    for axis_labels in (ax.get_xticklabels(), ax.get_yticklabels()):
        assert [t.get_text() for t in axis_labels] == names
        assert overlapping(list(axis_labels), renderer) == []
        assert all(inside_figure(t, renderer) for t in axis_labels)
    assert inside_figure(figure.texts[0], renderer)  # the suptitle
    figure.clear()


def test_collapse_against_loops():
    rng = np.random.default_rng(5)
    matrix = rng.random((9, 9)) * (rng.random((9, 9)) < 0.5)
    indices = (1, 4, 7)
    out = collapse(matrix, indices)
    rest = [i for i in range(9) if i not in indices]
    for a, i in enumerate([*indices, None]):
        for b, j in enumerate([*indices, None]):
            rows = rest if i is None else [i]
            cols = rest if j is None else [j]
            assert out[a, b] == pytest.approx(sum(matrix[r, c] for r in rows for c in cols))


def test_the_choice_is_kept_for_the_same_evaluation_only():
    """A chart asks two or three times; the same (immutable) evaluation gets the same answer,
    read-only, and another evaluation its own."""
    evaluation = classes(100)
    first = shown_classes(evaluation)
    assert shown_classes(evaluation) is first
    assert not first.matrices[0].flags.writeable
    matrix = np.array(evaluation.confusion_matrix)
    outside = next(i for i in range(100) if i not in first.indices)
    matrix[outside, (outside + 1) % 100] += 1000
    changed = shown_classes(dataclasses.replace(evaluation,
                                                confusion_matrix=frozen_array(matrix)))
    assert outside in changed.indices and outside not in first.indices
    assert shown_classes(evaluation).indices == first.indices


@pytest.mark.parametrize("n_classes", [31, 1000])
def test_long_names_are_shortened_and_apart(n_classes):
    evaluation = classes(n_classes, long_names=True)
    figure = render_chart("confusion_matrix", evaluation, title="t")
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    ax = figure.axes[0]
    for axis_labels in (ax.get_xticklabels(), ax.get_yticklabels()):
        texts = [t.get_text() for t in axis_labels]
        assert all(len(text) <= 24 for text in texts)
        assert texts[0].endswith("\u2026")
        assert overlapping(list(axis_labels), renderer) == []
        assert all(inside_figure(t, renderer) for t in axis_labels)
    figure.clear()


@pytest.mark.parametrize("n_classes", [10, 30])
def test_long_names_in_a_whole_matrix_and_the_roc_legend(n_classes):
    evaluation = classes(n_classes, long_names=True)
    plot = plot_confusion_matrix(evaluation)
    figure = plot.ax.figure
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    for axis_labels in (plot.ax.get_xticklabels(), plot.ax.get_yticklabels()):
        assert all(t.get_text().endswith("\u2026") for t in axis_labels)
        assert overlapping(list(axis_labels), renderer) == []
        assert all(inside_figure(t, renderer) for t in axis_labels)
    figure = render_chart("roc_curve", evaluation, title="t")
    figure.canvas.draw()
    legend = figure.axes[0].get_legend()
    texts = legend.get_texts()
    named = [t for t in texts if LONG_NAME[10:20] in t.get_text()]
    assert named and all("\u2026" in t.get_text() for t in named)
    assert overlapping(list(texts), figure.canvas.get_renderer()) == []
    assert all(inside_figure(t, figure.canvas.get_renderer()) for t in texts)
    assert plot_roc_curve  # the public function draws the same legend


def test_multilabel_5_labels_all_shown():
    evaluation = labels(5)
    plot = plot_confusion_matrix(evaluation)
    assert [p.ax.get_title() for p in plot.panels] == list(evaluation.class_names)
    for panel, matrix in zip(plot.panels, evaluation.confusion_matrix, strict=True):
        np.testing.assert_allclose(panel.image.get_array().sum(axis=1), 1.0)
        assert panel.texts[1, 1].get_text().split("\n")[0] == f"{matrix[1, 1]:g}"


def test_multilabel_100_labels_show_the_16_with_most_errors():
    """(Its cost, under 1 s of CPU, is measured by benchmarks/bench_charts.py, not here.)"""
    evaluation = labels(100)
    png = chart_png("confusion_matrix", evaluation, epoch=1)
    assert matplotlib.image.imread(io.BytesIO(png), format="png").ndim == 3
    plot = plot_confusion_matrix(evaluation)
    shown = plot.shown
    assert shown is not None and len(plot.panels) == 16
    full = np.asarray(evaluation.confusion_matrix)
    errors = full[:, 0, 1] + full[:, 1, 0]
    rest = np.setdiff1d(np.arange(100), shown.indices)
    assert errors[rest].max() <= errors[list(shown.indices)].min()
    assert [p.ax.get_title() for p in plot.panels] == [evaluation.class_names[i]
                                                       for i in shown.indices]
    for panel, i in zip(plot.panels, shown.indices, strict=True):
        np.testing.assert_allclose(
            panel.image.get_array().data * full[i].sum(axis=1, keepdims=True), full[i])
    note = plot.ax.figure.get_supxlabel()
    assert note == (f"16 of 100 labels shown: those with the most errors (FP + FN); the other "
                    f"84 have {int(errors[rest].sum()):,} errors")


def _nudged(evaluation: Evaluation, index: int) -> Evaluation:
    """`evaluation` with one more correct sample of class `index` (its errors unchanged)."""
    matrix = np.array(evaluation.confusion_matrix)
    matrix[index, index] += 1
    return dataclasses.replace(evaluation, confusion_matrix=frozen_array(matrix))


def test_kept_frame_at_1000_classes_is_reused_until_the_shown_classes_change():
    from test_charts_fast import SAME, difference

    evaluation = classes(1000)
    charts = FastCharts()
    charts.png("confusion_matrix", evaluation, 1)
    frame = charts._frames["confusion_matrix"]
    shown = shown_classes(evaluation).indices
    second = _nudged(evaluation, shown[0])
    assert shown_classes(second).indices == shown
    png = charts.png("confusion_matrix", second, 2)
    assert charts._frames["confusion_matrix"] is frame  # the same frame, redrawn
    assert difference(png, chart_png("confusion_matrix", second, epoch=2)) < SAME
    # errors of a class not shown, enough to bring it in: a new frame
    matrix = np.array(evaluation.confusion_matrix)
    outside = next(i for i in range(1000) if i not in shown)
    matrix[outside, (outside + 1) % 1000] += 1000
    third = dataclasses.replace(evaluation, confusion_matrix=frozen_array(matrix))
    assert outside in shown_classes(third).indices
    png = charts.png("confusion_matrix", third, 3)
    assert charts._frames["confusion_matrix"] is not frame
    assert difference(png, chart_png("confusion_matrix", third, epoch=3)) < SAME
