"""What the best threshold costs `evaluate()`: CPU seconds with it and without it.

Run from the repository root:

    python benchmarks/bench_best_threshold.py

Binary at 1,000,000 rows and multilabel at 200,000 x 10, float32 scores, without and with
float64 sample weights. "Without" replaces the in-sample choice and the held-out estimate by
nothing; "in-sample only" keeps the choice from the curves' counts and drops the held-out
estimate. Times are the best of a few repeats of `time.process_time` (every thread counted).
"""

from __future__ import annotations

import importlib
import os
import sys
import time
import warnings
from collections.abc import Callable

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # this epoch_eval

import numpy as np

from epoch_eval import evaluate

best_threshold = importlib.import_module("epoch_eval.metrics.best_threshold")
REPEATS = 5


def cpu_seconds(run: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(REPEATS):
        start = time.process_time()
        run()
        best = min(best, time.process_time() - start)
    return best


def data(task: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    shape = (1_000_000,) if task == "binary" else (200_000, 10)
    labels = (rng.random(shape) < 0.3).astype(np.int8)
    scores = np.clip(0.3 * labels + 0.7 * rng.random(shape), 0, 1).astype(np.float32)
    return labels, scores


def main() -> None:
    rng = np.random.default_rng(0)
    real_best_f1, real_from_targets = best_threshold.best_f1, best_threshold.from_targets
    for task in ("binary", "multilabel"):
        labels, scores = data(task, rng)
        for weighted in (False, True):
            weight = rng.random(len(labels)) if weighted else None

            def run(labels=labels, scores=scores, weight=weight, task=task) -> object:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    return evaluate(labels, scores, task=task, sample_weight=weight)

            with_it = cpu_seconds(run)
            best_threshold.from_targets = lambda targets, per_class, seed: (
                best_threshold.of_task(targets.task, per_class, None))
            in_sample = cpu_seconds(run)
            best_threshold.best_f1 = lambda counts: (0.0, 0.0)
            best_threshold.from_targets = lambda targets, per_class, seed: None
            without = cpu_seconds(run)
            best_threshold.best_f1, best_threshold.from_targets = real_best_f1, real_from_targets
            print(f"{task:10s} weighted={weighted!s:5s}  without {without:.3f} s  "
                  f"in-sample only {in_sample:.3f} s ({in_sample / without:.3f}x)  "
                  f"with held-out {with_it:.3f} s ({with_it / without:.3f}x)")


if __name__ == "__main__":
    main()
