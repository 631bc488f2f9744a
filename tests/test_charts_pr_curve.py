"""The precision-recall chart, tested by its artists and data."""

from __future__ import annotations

import numpy as np
import pytest
from chart_evaluations import binary, multiclass, multiclass_with_absent_class, multilabel
from chart_evaluations import undefined as undefined_evaluation

from epoch_eval.charts import plot_pr_curve


def legend_texts(plot) -> list[str]:
    return [text.get_text() for text in plot.legend.get_texts()]


def test_multiclass_step_lines_with_ap_in_the_legend():
    evaluation = multiclass(3)
    plot = plot_pr_curve(evaluation)
    assert plot.ax.get_xlabel() == "Recall"
    assert plot.ax.get_ylabel() == "Precision"
    assert list(plot.lines) == list(evaluation.class_names)
    texts = legend_texts(plot)
    for curve in evaluation.pr_curves:
        line = plot.lines[curve.label]
        assert line.get_drawstyle() == "steps-post"
        np.testing.assert_array_equal(line.get_xdata(), curve.recall)
        np.testing.assert_array_equal(line.get_ydata(), curve.precision)
        assert f"{curve.label} (AP = {curve.average_precision:.3f})" in texts
    assert plot.chance_line is None
    assert plot.micro_line is None and plot.macro_line is None


def test_binary_has_a_chance_line_at_the_prevalence():
    evaluation = binary()
    plot = plot_pr_curve(evaluation)
    prevalence = evaluation.pr_curves[0].prevalence
    np.testing.assert_allclose(plot.chance_line.get_ydata(), [prevalence, prevalence])
    np.testing.assert_allclose(plot.chance_line.get_xdata(), [0, 1])
    assert legend_texts(plot) == [
        f"malignant (AP = {evaluation.pr_auc:.3f})", f"Chance level (AP = {prevalence:.3f})"]


def test_multilabel_draws_one_curve_per_label():
    evaluation = multilabel(3)
    assert list(plot_pr_curve(evaluation).lines) == list(evaluation.class_names)


def test_a_class_without_positives_is_skipped_and_noted():
    plot = plot_pr_curve(multiclass_with_absent_class())
    assert plot.skipped == ("fish",)
    assert "fish" not in plot.lines
    assert "not drawn, AP undefined: fish" in legend_texts(plot)


def test_many_classes_name_the_lowest_ap():
    evaluation = multiclass(20, n=3000)
    plot = plot_pr_curve(evaluation)
    by_ap = sorted(evaluation.pr_curves, key=lambda curve: curve.average_precision)
    assert plot.legend_classes == tuple(curve.label for curve in by_ap[:5])
    assert set(plot.lines) == set(plot.legend_classes)
    assert len(plot.other_classes) == 15
    # the grey curves are drawn as steps, as the lines are: each corner of each step
    curves = {curve.label: curve for curve in evaluation.pr_curves}
    for label, segment in zip(plot.other_classes, plot.others.get_segments(), strict=True):
        recall, precision = curves[label].recall, curves[label].precision
        np.testing.assert_array_equal(segment[::2, 0], recall)
        np.testing.assert_array_equal(segment[::2, 1], precision)
        np.testing.assert_array_equal(segment[1::2, 0], recall[1:])
        np.testing.assert_array_equal(segment[1::2, 1], precision[:-1])
    assert legend_texts(plot)[-1].startswith("15 other classes (AP ")


def test_undefined_evaluation_is_refused():
    with pytest.raises(ValueError, match=r"pr_curve.*undefined"):
        plot_pr_curve(undefined_evaluation())
