"""Make the page behind docs/html_report_intervals.png: an `HtmlReport` with interval bands.

The epochs are real `epoch_eval.evaluate()` results on generated binary data (a model whose
scores sharpen epoch by epoch). Until the library fills `intervals` itself, this script adds
them with `dataclasses.replace`: 95% percentile-bootstrap intervals (200 resamples of the
rows), churn against the previous epoch's predicted labels, and the best threshold (chosen
on all rows, and held out: chosen on one half, measured on the other, both ways, averaged).

    PYTHONPATH=. python docs/make_html_report_intervals.py /tmp/report.html
    chromium --headless=new --no-sandbox --hide-scrollbars --window-size=1300,880 \\
        --screenshot=docs/html_report_intervals.png file:///tmp/report.html
"""

from __future__ import annotations

import dataclasses
import sys

import numpy as np

from epoch_eval import EpochResult, HtmlReport, evaluate
from epoch_eval.metrics.result import SCALAR_NAMES


def f1_at(y: np.ndarray, scores: np.ndarray, threshold: float) -> float:
    predicted = scores >= threshold
    tp = np.sum(predicted & (y == 1))
    return float(2 * tp / max(predicted.sum() + (y == 1).sum(), 1))


def best_threshold(y: np.ndarray, scores: np.ndarray) -> tuple[float, float]:
    candidates = np.quantile(scores, np.linspace(0.02, 0.98, 97))
    f1 = [f1_at(y, scores, t) for t in candidates]
    return float(candidates[int(np.argmax(f1))]), float(max(f1))


def main(path: str) -> None:
    rng = np.random.default_rng(7)
    n, epochs = 800, 8
    y = rng.integers(0, 2, n)
    noise = rng.normal(size=n)
    half = rng.permutation(n) < n // 2
    sink = HtmlReport(path, title="epoch_eval report: 95% intervals")
    sink.open()
    previous = None
    for epoch in range(1, epochs + 1):
        signal = 0.3 + 0.1 * epoch
        scores = 1 / (1 + np.exp(-(signal * (2 * y - 1) + noise + 0.3 * rng.normal(size=n))))
        evaluation = evaluate(y, scores, class_names=["negative", "positive"])
        draws = []
        for _ in range(200):
            rows = rng.integers(0, n, n)
            draws.append(evaluate(y[rows], scores[rows]).scalars())
        intervals = {name: (float(np.quantile([d[name] for d in draws], 0.025)),
                            float(np.quantile([d[name] for d in draws], 0.975)))
                     for name in SCALAR_NAMES}
        threshold, f1_best = best_threshold(y, scores)
        heldout = np.mean([f1_at(y[~part], scores[~part], best_threshold(y[part], scores[part])[0])
                           for part in (half, ~half)])
        labels = scores >= 0.5
        evaluation = dataclasses.replace(
            evaluation, confidence=0.95, intervals=intervals,
            churn=None if previous is None else float(np.mean(labels != previous)),
            best_threshold=threshold, f1_at_best_threshold=f1_best,
            f1_at_best_threshold_heldout=float(heldout))
        previous = labels
        sink.write(EpochResult(epoch, evaluation, {}))
    sink.close()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "report.html")
