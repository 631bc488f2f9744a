"""One rule for which way is better, shared by every sink that marks a best epoch."""

from __future__ import annotations

import pytest

from epoch_eval.sinks import html_report, notebook_html
from epoch_eval.sinks.metric_direction import lower_is_better


@pytest.mark.parametrize("name", ["loss", "val_loss", "mae", "val_mean_squared_error",
                                  "categorical_crossentropy", "hinge", "churn",
                                  "roc_auc_error_bound"])
def test_losses_and_errors_are_best_lowest(name):
    assert lower_is_better(name)


@pytest.mark.parametrize("name", ["f1", "val_precision", "recall", "accuracy", "roc_auc",
                                  "pr_auc", "learning_rate"])
def test_scores_are_best_highest(name):
    assert not lower_is_better(name)


def test_the_notebook_and_the_report_mark_the_same_best_epoch_of_a_keras_metric():
    values = [0.9, 0.4, 0.7]  # `mae` (lower is better): best at epoch 2
    notebook = notebook_html.trend_svg("mae", list(enumerate(values, start=1)))
    assert "(best 0.4000 at 2)" in notebook
    assert html_report.lower_is_better is notebook_html.lower_is_better
