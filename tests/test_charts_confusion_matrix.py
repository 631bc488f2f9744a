"""The confusion matrix chart, tested by its artists and data (scikit-learn's way)."""

from __future__ import annotations

import numpy as np
import pytest
from chart_evaluations import binary, multiclass, multiclass_with_absent_class, multilabel
from chart_evaluations import undefined as undefined_evaluation
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from epoch_eval.charts import plot_confusion_matrix, render_chart
from epoch_eval.charts.confusion_matrix import MIN_CELL_FONT_SIZE, format_count, format_rate


def row_rates(matrix: np.ndarray) -> np.ndarray:
    matrix = np.asarray(matrix, dtype=float)
    totals = matrix.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return matrix / totals


def tick_texts(labels) -> list[str]:
    return [label.get_text() for label in labels]


def test_multiclass_axes_ticks_image_and_cell_texts():
    evaluation = multiclass(3)
    plot = plot_confusion_matrix(evaluation)
    ax = plot.ax
    assert ax.get_xlabel() == "Predicted label"
    assert ax.get_ylabel() == "True label"
    assert tick_texts(ax.get_xticklabels()) == list(evaluation.class_names)
    assert tick_texts(ax.get_yticklabels()) == list(evaluation.class_names)
    matrix = evaluation.confusion_matrix
    np.testing.assert_allclose(plot.panels[0].image.get_array(), row_rates(matrix))
    assert list(ax.images) == [plot.panels[0].image]
    texts = plot.panels[0].texts
    assert texts.shape == (3, 3)
    rates = row_rates(matrix)
    for i in range(3):
        for j in range(3):
            expected = (str(matrix[i, j]) if matrix[i, j] == 0
                        else f"{matrix[i, j]}\n{rates[i, j]:.0%}")
            assert texts[i, j].get_text() == expected
            assert texts[i, j].get_position() == (j, i)
    assert plot.colorbar is not None
    assert plot.colorbar.ax.get_ylabel() == "Row-normalised rate"
    assert isinstance(ax.figure.canvas, FigureCanvasAgg)


def test_binary_is_the_2x2_matrix_with_class_names():
    evaluation = binary()
    plot = plot_confusion_matrix(evaluation)
    assert len(plot.panels) == 1
    assert tick_texts(plot.ax.get_xticklabels()) == ["benign", "malignant"]
    assert plot.panels[0].image.get_array().shape == (2, 2)
    counts = evaluation.confusion_matrix
    assert [t.get_text().split("\n")[0] for t in plot.panels[0].texts.ravel()] == [
        str(c) for c in counts.ravel()]


def test_draws_into_the_given_axes():
    figure = Figure()
    ax = figure.add_subplot(1, 2, 2)
    plot = plot_confusion_matrix(multiclass(3), ax=ax, colorbar=False)
    assert plot.ax is ax
    assert plot.colorbar is None
    assert len(figure.axes) == 1


@pytest.mark.parametrize("n_classes", [10, 20])
def test_every_cell_text_is_legible_up_to_20_classes(n_classes):
    evaluation = multiclass(n_classes, n=4000)
    figure = render_chart("confusion_matrix", evaluation, title="t")
    ax = figure.axes[0]
    texts = [t for t in ax.texts]
    assert len(texts) == n_classes * n_classes
    assert all(t.get_fontsize() >= MIN_CELL_FONT_SIZE for t in texts)
    assert tick_texts(ax.get_xticklabels()) == list(evaluation.class_names)
    assert tick_texts(ax.get_yticklabels()) == list(evaluation.class_names)
    # the figure grows with the class count
    assert figure.get_size_inches()[0] > 6.4
    # a cell text is no wider than its cell once drawn
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    cell_width = ax.get_window_extent().width / n_classes
    assert max(t.get_window_extent(renderer).width for t in texts) < cell_width
    figure.clear()


def test_x_tick_labels_rotate_when_names_do_not_fit():
    plot = plot_confusion_matrix(multiclass(20))
    assert all(label.get_rotation() == 45 for label in plot.ax.get_xticklabels())
    plot = plot_confusion_matrix(binary())
    assert all(label.get_rotation() == 0 for label in plot.ax.get_xticklabels())


def test_100_classes_show_a_legible_sub_matrix():
    # issue 17: beyond 30 classes, 30 of them and "all other classes", with cell texts
    # (tests/test_charts_many_classes.py checks its values)
    evaluation = multiclass(100, n=5000)
    plot = plot_confusion_matrix(evaluation)
    assert plot.panels[0].image.get_array().shape == (31, 31)
    assert plot.panels[0].texts is not None
    assert all(t.get_fontsize() >= MIN_CELL_FONT_SIZE for t in plot.ax.texts)


def test_include_values_overrides_the_legibility_rule():
    tiny = Figure(figsize=(2, 2)).add_subplot()
    assert plot_confusion_matrix(multiclass(10), ax=tiny).panels[0].texts is None
    tiny = Figure(figsize=(2, 2)).add_subplot()
    forced = plot_confusion_matrix(multiclass(10), ax=tiny, include_values=True)
    assert forced.panels[0].texts.shape == (10, 10)
    assert plot_confusion_matrix(multiclass(3), include_values=False).panels[0].texts is None


def test_multilabel_grid_has_one_titled_panel_per_label():
    evaluation = multilabel(5)
    plot = plot_confusion_matrix(evaluation)
    assert len(plot.panels) == 5
    assert [panel.ax.get_title() for panel in plot.panels] == list(evaluation.class_names)
    for k, panel in enumerate(plot.panels):
        np.testing.assert_allclose(panel.image.get_array(),
                                   row_rates(evaluation.confusion_matrix[k]))
        assert tick_texts(panel.ax.get_xticklabels()) == ["negative", "positive"]
        assert panel.texts[1, 1].get_text().startswith(
            str(evaluation.confusion_matrix[k, 1, 1]))
    figure = plot.ax.figure
    # five panels and one shared colour bar
    assert len(figure.axes) == 6
    assert plot.colorbar is not None


def test_multilabel_grid_inside_a_subplot():
    figure = Figure()
    outer = figure.add_subplot(1, 2, 1)
    plot = plot_confusion_matrix(multilabel(4), ax=outer, colorbar=False)
    assert len(plot.panels) == 4
    assert not outer.axison
    loose = Figure().add_axes((0.1, 0.1, 0.8, 0.8))
    with pytest.raises(ValueError, match="add_subplot"):
        plot_confusion_matrix(multilabel(4), ax=loose)


def test_weighted_counts_are_formatted_compactly():
    evaluation = multiclass(3, sample_weight=np.random.default_rng(0).random(600))
    assert evaluation.confusion_matrix.dtype.kind == "f"
    plot = plot_confusion_matrix(evaluation)
    for (i, j), text in np.ndenumerate(plot.panels[0].texts):
        assert text.get_text().split("\n")[0] == format_count(evaluation.confusion_matrix[i, j])


@pytest.mark.parametrize(("count", "text"), [
    (0, "0"), (12, "12"), (12.0, "12"), (99999, "99999"), (123456, "123k"),
    (1234567, "1.23M"), (2.21277, "2.21"), (45.678, "45.7"), (150.4, "150"),
    (np.int64(7), "7"),
])
def test_format_count(count, text):
    assert format_count(count) == text


@pytest.mark.parametrize(("rate", "text"), [
    (0.0, "0%"), (0.001, "<1%"), (0.8, "80%"), (0.996, ">99%"), (1.0, "100%"),
])
def test_format_rate(rate, text):
    assert format_rate(rate) == text


def test_a_class_never_true_has_a_blank_row():
    evaluation = multiclass_with_absent_class()
    plot = plot_confusion_matrix(evaluation)
    image = plot.panels[0].image.get_array()
    assert np.ma.getmaskarray(image)[3].all()
    assert not np.ma.getmaskarray(image)[:3].any()
    assert [t.get_text() for t in plot.panels[0].texts[3]] == ["0", "0", "0", "0"]


def test_text_colour_contrasts_with_the_cell():
    plot = plot_confusion_matrix(binary(), cmap="Blues")
    rates = row_rates(binary().confusion_matrix)
    for (i, j), text in np.ndenumerate(plot.panels[0].texts):
        expected = "white" if rates[i, j] > 0.5 else "black"
        assert text.get_color() == expected


def test_undefined_evaluation_is_refused():
    with pytest.raises(ValueError, match=r"undefined.*predicted NaN"):
        plot_confusion_matrix(undefined_evaluation())


def test_pyplot_is_never_involved():
    plt = pytest.importorskip("matplotlib.pyplot")
    before = plt.get_fignums()
    plot_confusion_matrix(multiclass(3))
    plot_confusion_matrix(multilabel(3))
    assert plt.get_fignums() == before
