"""The ROC chart, tested by its artists and data."""

from __future__ import annotations

import numpy as np
import pytest
from chart_evaluations import binary, multiclass, multiclass_with_absent_class, multilabel
from chart_evaluations import undefined as undefined_evaluation
from matplotlib.figure import Figure

from epoch_eval import evaluate
from epoch_eval.charts import plot_roc_curve


def legend_texts(plot) -> list[str]:
    return [text.get_text() for text in plot.legend.get_texts()]


def test_multiclass_one_line_per_class_with_auc_in_the_legend():
    evaluation = multiclass(3)
    plot = plot_roc_curve(evaluation)
    ax = plot.ax
    assert ax.get_xlabel() == "False positive rate"
    assert ax.get_ylabel() == "True positive rate"
    assert ax.get_xlim() == pytest.approx((-0.01, 1.01))
    assert ax.get_ylim() == pytest.approx((-0.01, 1.01))
    assert list(plot.lines) == list(evaluation.class_names)
    for curve in evaluation.roc_curves:
        line = plot.lines[curve.label]
        np.testing.assert_array_equal(line.get_xdata(), curve.fpr)
        np.testing.assert_array_equal(line.get_ydata(), curve.tpr)
    texts = legend_texts(plot)
    for curve in evaluation.roc_curves:
        assert f"{curve.label} (AUC = {curve.auc:.3f})" in texts
    assert f"micro-average (AUC = {evaluation.roc_micro.auc:.3f})" in texts
    assert f"macro-average (AUC = {evaluation.roc_macro.auc:.3f})" in texts
    assert "Chance level (AUC = 0.500)" in texts


def test_micro_and_macro_averages_are_drawn_thicker_and_dashed():
    evaluation = multiclass(3)
    plot = plot_roc_curve(evaluation)
    np.testing.assert_array_equal(plot.micro_line.get_xdata(), evaluation.roc_micro.fpr)
    np.testing.assert_array_equal(plot.micro_line.get_ydata(), evaluation.roc_micro.tpr)
    np.testing.assert_array_equal(plot.macro_line.get_xdata(), evaluation.roc_macro.fpr)
    np.testing.assert_array_equal(plot.macro_line.get_ydata(), evaluation.roc_macro.tpr)
    class_width = plot.lines["class_00"].get_linewidth()
    for line in (plot.micro_line, plot.macro_line):
        assert line.get_linewidth() > class_width
        assert line.get_linestyle() in ("--", ":")
    np.testing.assert_array_equal(plot.chance_line.get_xydata(), [[0, 0], [1, 1]])


def test_binary_has_the_positive_class_curve_and_no_averages():
    evaluation = binary()
    plot = plot_roc_curve(evaluation)
    assert list(plot.lines) == ["malignant"]
    np.testing.assert_array_equal(plot.lines["malignant"].get_xdata(),
                                  evaluation.roc_curves[0].fpr)
    assert plot.micro_line is None and plot.macro_line is None
    assert legend_texts(plot) == [
        f"malignant (AUC = {evaluation.roc_auc:.3f})", "Chance level (AUC = 0.500)"]
    assert not any("average" in text for text in legend_texts(plot))
    # two entries fit inside the axes
    assert plot.legend.get_bbox_to_anchor().width == pytest.approx(
        plot.ax.bbox.width)


def test_multilabel_draws_labels_and_averages():
    evaluation = multilabel(4)
    plot = plot_roc_curve(evaluation)
    assert list(plot.lines) == list(evaluation.class_names)
    assert plot.micro_line is not None and plot.macro_line is not None


def test_a_class_with_undefined_auc_is_skipped_and_noted():
    evaluation = multiclass_with_absent_class()
    plot = plot_roc_curve(evaluation)
    assert list(plot.lines) == ["cat", "dog", "bird"]
    assert plot.skipped == ("fish",)
    assert "not drawn, AUC undefined: fish" in legend_texts(plot)


def test_only_one_class_present_draws_an_explanation():
    y = np.zeros(50, dtype=int)
    scores = np.random.default_rng(0).random(50)
    with pytest.warns(UserWarning):
        evaluation = evaluate(y, scores, task="binary")
    plot = plot_roc_curve(evaluation)
    assert plot.lines == {}
    assert any("undefined for every class" in text.get_text() for text in plot.ax.texts)


def test_100_classes_draw_every_curve_but_name_the_lowest_five():
    evaluation = multiclass(100, n=5000)
    plot = plot_roc_curve(evaluation)
    by_auc = sorted(evaluation.roc_curves, key=lambda curve: curve.auc)
    assert plot.legend_classes == tuple(curve.label for curve in by_auc[:5])
    # the five in colour are lines; the other 95, thin and grey, one collection of their curves
    assert set(plot.lines) == set(plot.legend_classes)
    assert plot.other_classes == tuple(c.label for c in evaluation.roc_curves
                                       if c.label not in plot.legend_classes)
    curves = {curve.label: curve for curve in evaluation.roc_curves}
    segments = plot.others.get_segments()
    assert len(segments) == 95 and plot.others in plot.ax.collections
    for label, segment in zip(plot.other_classes, segments, strict=True):
        np.testing.assert_array_equal(segment[:, 0], curves[label].fpr)
        np.testing.assert_array_equal(segment[:, 1], curves[label].tpr)
    assert plot.others.get_linewidth()[0] < plot.lines[by_auc[0].label].get_linewidth()
    texts = legend_texts(plot)
    assert len(texts) == 2 + 5 + 1 + 1
    assert texts[7].startswith("95 other classes (AUC ")
    assert f"{by_auc[-1].auc:.3f})" in texts[7]
    # the legend sits beside the axes, not on the curves
    assert plot.legend.get_bbox_to_anchor().x0 > plot.ax.bbox.x1


def test_long_curves_are_thinned_but_keep_their_endpoints():
    rng = np.random.default_rng(0)
    n = 200_000
    y = rng.integers(0, 2, n)
    evaluation = evaluate(y, np.clip(0.2 * y + 0.8 * rng.random(n), 0, 1))
    curve = evaluation.roc_curves[0]
    assert len(curve.fpr) > 10_000
    line = plot_roc_curve(evaluation).lines["1"]
    assert len(line.get_xdata()) <= 4002
    assert (line.get_xdata()[0], line.get_ydata()[0]) == (curve.fpr[0], curve.tpr[0])
    assert (line.get_xdata()[-1], line.get_ydata()[-1]) == (curve.fpr[-1], curve.tpr[-1])
    full = plot_roc_curve(evaluation, thin=False).lines["1"]
    assert len(full.get_xdata()) == len(curve.fpr)


def test_draws_into_the_given_axes():
    ax = Figure().add_subplot()
    assert plot_roc_curve(multiclass(3), ax=ax).ax is ax


def test_undefined_evaluation_is_refused():
    with pytest.raises(ValueError, match=r"roc_curve.*undefined"):
        plot_roc_curve(undefined_evaluation())
