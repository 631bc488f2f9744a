"""`FastCharts` draws what `chart_png` draws, epoch after epoch, whatever changes between them."""

from __future__ import annotations

import io

import matplotlib.image
import numpy as np
import pytest
from chart_evaluations import binary, multiclass, multilabel
from scipy.ndimage import uniform_filter

from epoch_eval.charts import CHART_NAMES, chart_png
from epoch_eval.charts.fast import FastCharts

SAME = 0.42
"""Largest difference between two PNGs of the same chart, after a 3x3 blur: text may sit a
fraction of a pixel apart. A digit or a curve that differs gives more than 0.55."""


def pixels(png: bytes) -> np.ndarray:
    return matplotlib.image.imread(io.BytesIO(png), format="png")


def difference(first: bytes, second: bytes) -> float:
    a, b = pixels(first), pixels(second)
    assert a.shape == b.shape
    grey = [uniform_filter(image[..., :3].mean(axis=2), size=3) for image in (a, b)]
    return float(np.abs(grey[0] - grey[1]).max())


EPOCHS = {
    "binary": [binary(seed=seed) for seed in range(3)],
    "3 classes": [multiclass(3, seed=seed, names=["cat", "dog", "bird"]) for seed in range(3)],
    "10 classes": [multiclass(10, seed=seed) for seed in range(3)],
    "20 classes": [multiclass(20, seed=seed) for seed in range(3)],  # legend names change
    "multilabel": [multilabel(seed=seed) for seed in range(3)],
}


@pytest.mark.parametrize("name", CHART_NAMES)
@pytest.mark.parametrize("case", list(EPOCHS))
def test_each_epoch_looks_as_a_fresh_chart(name, case):
    charts = FastCharts()
    previous = None
    for epoch, evaluation in enumerate(EPOCHS[case], start=1):
        fast = charts.png(name, evaluation, epoch)
        fresh = chart_png(name, evaluation, epoch=epoch)
        assert difference(fast, fresh) < SAME
        if previous is not None:  # the comparison sees a change of data
            assert difference(fast, previous) > 0.55
        previous = fresh


def test_a_new_task_or_class_count_gets_a_new_frame():
    charts = FastCharts()
    for epoch, evaluation in enumerate([multiclass(3), multiclass(12), binary(), multilabel(4)],
                                       start=1):
        for name in CHART_NAMES:
            assert difference(charts.png(name, evaluation, epoch),
                              chart_png(name, evaluation, epoch=epoch)) < SAME


def test_refuses_what_chart_png_refuses():
    from chart_evaluations import undefined

    with pytest.raises(ValueError, match="Unknown chart name"):
        FastCharts().png("histogram", binary(), 1)
    with pytest.raises(ValueError, match="the evaluation is undefined"):
        FastCharts().png("roc_curve", undefined(), 1)
