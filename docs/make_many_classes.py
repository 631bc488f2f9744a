"""Make docs/many_classes_confusion_matrix.png: the confusion-matrix chart of a generated
1,000-class evaluation (50,000 rows, the data of `benchmarks/bench_charts.py`), with long
ImageNet-style class names.

    python docs/make_many_classes.py docs/many_classes_confusion_matrix.png
"""

from __future__ import annotations

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # this checkout

from epoch_eval import evaluate
from epoch_eval.charts import chart_png

NAMES = ("tench, Tinca tinca", "goldfish, Carassius auratus", "great white shark")


def main(path: str) -> None:
    rows, classes = 50_000, 1_000
    rng = np.random.default_rng(0)
    labels = rng.integers(0, classes, size=rows)
    logits = rng.normal(size=(rows, classes)).astype(np.float32)
    logits[np.arange(rows), labels] += 3.0
    scores = np.exp(logits - logits.max(axis=1, keepdims=True))
    scores /= scores.sum(axis=1, keepdims=True)
    names = [f"n{k:08d} {NAMES[k % len(NAMES)]}" for k in range(classes)]
    evaluation = evaluate(labels, scores, class_names=names)
    with open(path, "wb") as file:
        file.write(chart_png("confusion_matrix", evaluation, epoch=1))


if __name__ == "__main__":
    main(sys.argv[1])
