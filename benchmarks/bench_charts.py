"""What each chart costs at 10, 100 and 1,000 classes: a fresh `chart_png`, and the redraw of
the frame that `FastCharts` keeps during `fit`.

Run from the repository root:

    python benchmarks/bench_charts.py             # 50,000 rows; 10, 30, 100, 1,000 classes
    python benchmarks/bench_charts.py --rows 5000 --repeats 2   # quicker

The evaluations are multiclass (float32 softmax, the true class' logit raised) plus one
multilabel at 100 labels. Each figure is the least CPU time (`time.process_time`) of
`--repeats` runs. "redraw" is epoch 2 on the kept frame: the same evaluation with one more
correct sample of the first shown class, so the shown classes stay (the kept frame is reused;
the script checks it). Before a time is printed, its PNG is decoded and must be the figure's
size in pixels and not blank. The load average is printed: a shared machine slows each figure.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import os
import sys
import time
import warnings
from collections.abc import Callable
from functools import partial

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # this epoch_eval

import numpy as np
from PIL import Image

from epoch_eval import Evaluation, evaluate
from epoch_eval.charts import CHART_NAMES, chart_png
from epoch_eval.charts._figure import DPI
from epoch_eval.charts.confusion_matrix import confusion_matrix_figsize
from epoch_eval.charts.fast import FastCharts
from epoch_eval.charts.pr_curve import pr_curve_figsize
from epoch_eval.charts.roc_curve import roc_curve_figsize
from epoch_eval.charts.shown_classes import shown_classes
from epoch_eval.metrics.result import frozen_array

FIGSIZES: dict[str, Callable[[Evaluation], tuple[float, float]]] = {
    "confusion_matrix": confusion_matrix_figsize,
    "roc_curve": roc_curve_figsize,
    "pr_curve": pr_curve_figsize,
}


def multiclass(n: int, n_classes: int, seed: int = 0) -> Evaluation:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, n_classes, size=n)
    logits = rng.normal(size=(n, n_classes)).astype(np.float32)
    logits[np.arange(n), labels] += 3.0
    scores = np.exp(logits - logits.max(axis=1, keepdims=True))
    scores /= scores.sum(axis=1, keepdims=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # a class may have no sample
        return evaluate(labels, scores, class_names=[f"class_{k:03d}" for k in range(n_classes)])


def multilabel(n: int, n_labels: int, seed: int = 0) -> Evaluation:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, (n, n_labels))
    scores = np.clip(0.35 * labels + 0.65 * rng.random((n, n_labels)), 0, 1)
    return evaluate(labels, scores, class_names=[f"label_{k:03d}" for k in range(n_labels)])


def next_epoch(evaluation: Evaluation) -> Evaluation:
    """`evaluation` with one more correct sample of its first shown class."""
    matrix = np.array(evaluation.confusion_matrix)
    first = shown_classes(evaluation).indices[0]
    if evaluation.task == "multilabel":
        matrix[first, 1, 1] += 1
    else:
        matrix[first, first] += 1
    return dataclasses.replace(evaluation, confusion_matrix=frozen_array(matrix))


def check_png(png: bytes, name: str, evaluation: Evaluation) -> tuple[int, int]:
    """Decode `png`; raise unless it has the figure's size and is not blank."""
    image = Image.open(io.BytesIO(png))
    image.load()
    width, height = FIGSIZES[name](evaluation)
    expected = (round(width * DPI), round(height * DPI))
    if abs(image.size[0] - expected[0]) > 1 or abs(image.size[1] - expected[1]) > 1:
        raise AssertionError(f"{name}: PNG is {image.size}, expected {expected}")
    if np.asarray(image.convert("L")).std() < 1.0:
        raise AssertionError(f"{name}: PNG is blank")
    return image.size


def least_cpu(function: Callable[[], bytes], repeats: int) -> tuple[float, bytes]:
    best, result = float("inf"), b""
    for _ in range(repeats):
        start = time.process_time()
        result = function()
        best = min(best, time.process_time() - start)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--classes", type=int, nargs="+", default=[10, 30, 100, 1000])
    args = parser.parse_args()
    cases = [(f"{c} classes", multiclass(args.rows, c)) for c in args.classes]
    cases.append(("100 labels", multilabel(min(args.rows, 5000), 100)))
    print(f"chart CPU ms (least of {args.repeats}), {args.rows:,} rows, {os.cpu_count()} cores, "
          f"load average before: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"{'case':>12} {'chart':>17} {'fresh ms':>9} {'redraw ms':>10} {'PNG KB':>7} "
          f"{'pixels':>10}")
    for label, evaluation in cases:
        names = ("confusion_matrix",) if evaluation.task == "multilabel" else CHART_NAMES
        for name in names:
            fresh, png = least_cpu(partial(chart_png, name, evaluation, epoch=1), args.repeats)
            size = check_png(png, name, evaluation)
            charts = FastCharts()
            charts.png(name, evaluation, 1)
            frame = charts._frames[name]
            following = next_epoch(evaluation)
            redraw, fast_png = least_cpu(partial(charts.png, name, following, 2), args.repeats)
            if charts._frames[name] is not frame:
                raise AssertionError(f"{label} {name}: the kept frame was not reused")
            check_png(fast_png, name, following)
            print(f"{label:>12} {name:>17} {1000 * fresh:>9.0f} {1000 * redraw:>10.0f} "
                  f"{len(png) / 1024:>7.0f} {size[0]:>5}x{size[1]:<4}")
    print(f"load average after (1, 5, 15 min): "
          f"{', '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
