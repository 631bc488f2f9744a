"""Time `epoch_eval.evaluate()` against the scikit-learn calls that give the same values.

Run from the repository root:

    python benchmarks/bench_evaluate.py           # n=1,000,000 x C=10 and n=200,000 x C=100
    python benchmarks/bench_evaluate.py --quick   # sizes ten times smaller
    python benchmarks/bench_evaluate.py --many-classes  # only n=50,000 x C=1,000 (predict mode)
    python benchmarks/bench_evaluate.py --intervals   # the cost of confidence=0.95 only

For each size both sides run in the same process on the same data (multiclass, float32
probabilities that sum to 1, labels correlated with the scores), without and then with float64
sample weights; the values are checked to agree to 1e-9 relative, and the best of a few repeats
of each side is reported with the speed-up. Times are CPU seconds of the whole process
(`time.process_time`, every thread counted), which a machine shared with other work disturbs
far less than wall time; wall times are printed beside them. Then the peak memory that
`evaluate()` allocates (tracemalloc) is reported as a multiple of the size of `y_score`.

With `--intervals`, only the cost of the intervals is measured, at the first size: the CPU
time of `evaluate(confidence=0.95)` over that of `evaluate()`, runs of the two interleaved
(best of `--repeats` each), after checking that the values are the same with and without;
the target is at most 1.15.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import tracemalloc
import warnings
from collections.abc import Callable

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # this epoch_eval

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    confusion_matrix,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
)

from epoch_eval import evaluate

FULL_SIZES = ((1_000_000, 10), (200_000, 100), (50_000, 1000))
QUICK_SIZES = ((100_000, 10), (20_000, 100), (5_000, 1000))
MANY_CLASSES = ((50_000, 1000),)
TARGETS = {10: 5.0, 100: 5.0, 1000: 3.0}
"""The least speed-up in CPU time asked for at each class count."""
INTERVALS_TARGET = 1.15
SCALARS = ("f1", "precision", "recall", "accuracy", "roc_auc", "pr_auc")


def make_data(n: int, n_classes: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Integer labels and float32 softmax probabilities, the true class's logit raised."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, n_classes, size=n)
    logits = rng.normal(size=(n, n_classes)).astype(np.float32)
    logits[np.arange(n), labels] += 1.5
    logits -= logits.max(axis=1, keepdims=True)
    probabilities = np.exp(logits)
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    return labels, probabilities.astype(np.float32)


def make_weights(n: int, seed: int = 1) -> np.ndarray:
    """float64 sample weights that float32 could not hold exactly."""
    return np.random.default_rng(seed).uniform(0.5, 2.0, n)


def with_epoch_eval(labels: np.ndarray, scores: np.ndarray,
                    weight: np.ndarray | None) -> dict[str, object]:
    result = evaluate(labels, scores, sample_weight=weight)
    return {**result.scalars(), "confusion_matrix": result.confusion_matrix}


def with_sklearn(labels: np.ndarray, scores: np.ndarray,
                 weight: np.ndarray | None) -> dict[str, object]:
    n_classes = scores.shape[1]
    classes = np.arange(n_classes)
    predicted = scores.argmax(axis=1)
    common = {"labels": classes, "average": "macro", "zero_division": 0,
              "sample_weight": weight}
    one_hot = np.zeros(scores.shape, dtype=np.int8)
    one_hot[np.arange(len(labels)), labels] = 1
    return {
        "f1": f1_score(labels, predicted, **common),
        "precision": precision_score(labels, predicted, **common),
        "recall": recall_score(labels, predicted, **common),
        "accuracy": accuracy_score(labels, predicted, sample_weight=weight),
        "roc_auc": roc_auc_score(labels, scores, multi_class="ovr", average="macro",
                                 labels=classes, sample_weight=weight),
        "pr_auc": average_precision_score(one_hot, scores, average="macro",
                                          sample_weight=weight),
        "confusion_matrix": confusion_matrix(labels, predicted, labels=classes,
                                             sample_weight=weight),
    }


def best_time(function: Callable[..., dict[str, object]], labels: np.ndarray,
              scores: np.ndarray, weight: np.ndarray | None, repeats: int):
    """The least CPU and wall seconds of `repeats` runs of `function`, and its values."""
    best_cpu = best_wall = float("inf")
    values: dict[str, object] = {}
    for _ in range(repeats):
        cpu, wall = time.process_time(), time.perf_counter()
        values = function(labels, scores, weight)
        best_cpu = min(best_cpu, time.process_time() - cpu)
        best_wall = min(best_wall, time.perf_counter() - wall)
    return best_cpu, best_wall, values


def check_agree(ours: dict[str, object], theirs: dict[str, object]) -> float:
    """Raise if any value differs by more than 1e-9 relative; return the largest difference."""
    worst = 0.0
    for name in SCALARS:
        a, b = float(ours[name]), float(theirs[name])  # type: ignore[arg-type]
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=0, err_msg=name)
        worst = max(worst, abs(a - b) / abs(b) if b else abs(a - b))
    np.testing.assert_allclose(ours["confusion_matrix"], theirs["confusion_matrix"],
                               rtol=1e-12, atol=0)
    return worst


def peak_memory(labels: np.ndarray, scores: np.ndarray, weight: np.ndarray | None) -> int:
    """Peak bytes allocated (and traced) while `evaluate()` runs."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    evaluate(labels, scores, sample_weight=weight)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


def intervals_overhead(labels: np.ndarray, scores: np.ndarray, weight: np.ndarray | None,
                       repeats: int) -> tuple[float, float]:
    """The least CPU seconds of `evaluate()` without and with `confidence=0.95`, runs of the
    two interleaved; raises if the values differ."""
    best = {None: float("inf"), 0.95: float("inf")}
    values = {}
    for _ in range(repeats):
        for confidence in (None, 0.95):
            cpu = time.process_time()
            result = evaluate(labels, scores, sample_weight=weight, confidence=confidence)
            best[confidence] = min(best[confidence], time.process_time() - cpu)
            values[confidence] = result
    plain, with_intervals = values[None], values[0.95]
    if plain.scalars() != with_intervals.scalars() or not np.array_equal(
            plain.confusion_matrix, with_intervals.confusion_matrix):
        raise AssertionError("the values differ with confidence=0.95")
    assert with_intervals.intervals is not None
    return best[None], best[0.95]


def report_intervals(sizes: tuple[tuple[int, int], ...], repeats: int) -> None:
    n, n_classes = sizes[0]
    labels, scores = make_data(n, n_classes)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"evaluate(confidence=0.95) vs evaluate() at {n:,} x {n_classes}, best of {repeats} "
          f"interleaved runs, {os.cpu_count()} CPU cores, load average {load:.2f}; CPU seconds")
    worst = 0.0
    for weight in (None, make_weights(n)):
        plain, with_intervals = intervals_overhead(labels, scores, weight, repeats)
        ratio = with_intervals / plain
        worst = max(worst, ratio)
        print(f"  {'no' if weight is None else 'float64'} weights: {plain:.3f} s -> "
              f"{with_intervals:.3f} s, ratio {ratio:.3f} (values identical)")
    print(f"target: at most {INTERVALS_TARGET:.2f}x: "
          f"{'met' if worst <= INTERVALS_TARGET else 'NOT met'} (highest {worst:.3f}x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="sizes ten times smaller")
    parser.add_argument("--many-classes", action="store_true",
                        help="only the 50,000 x 1,000 case")
    parser.add_argument("--intervals", action="store_true",
                        help="measure only the cost of confidence=0.95")
    parser.add_argument("--repeats", type=int, default=3, help="repeats of evaluate()")
    parser.add_argument("--sklearn-repeats", type=int, default=2,
                        help="repeats of the scikit-learn calls")
    args = parser.parse_args()
    sizes = MANY_CLASSES if args.many_classes else QUICK_SIZES if args.quick else FULL_SIZES
    if args.intervals:
        report_intervals(sizes[:2] if not args.many_classes else sizes, max(args.repeats, 5))
        return

    rows = []
    for n, n_classes in sizes:
        labels, scores = make_data(n, n_classes)
        for weight in (None, make_weights(n)):
            with warnings.catch_warnings():
                warnings.simplefilter("error")  # every class is present: no warning expected
                ours_cpu, ours_wall, ours = best_time(with_epoch_eval, labels, scores, weight,
                                                      args.repeats)
            theirs_cpu, theirs_wall, theirs = best_time(with_sklearn, labels, scores, weight,
                                                        args.sklearn_repeats)
            worst = check_agree(ours, theirs)
            rows.append((n, n_classes, "no" if weight is None else "float64", ours_cpu,
                         theirs_cpu, theirs_cpu / ours_cpu, theirs_wall / ours_wall, worst))

    print(f"evaluate() vs scikit-learn (f1, precision, recall, accuracy, confusion_matrix, "
          f"roc_auc_score ovr, average_precision_score), best of {args.repeats} / "
          f"{args.sklearn_repeats} runs, {os.cpu_count()} CPU cores; CPU seconds")
    print(f"{'n':>10} {'C':>4} {'weights':>8} {'epoch_eval s':>13} {'sklearn s':>10} "
          f"{'speed-up':>9} {'(wall)':>7} {'max rel diff':>13}")
    for n, n_classes, weighted, ours_s, theirs_s, ratio, wall_ratio, worst in rows:
        print(f"{n:>10,} {n_classes:>4} {weighted:>8} {ours_s:>13.3f} {theirs_s:>10.3f} "
              f"{ratio:>8.1f}x {wall_ratio:>6.1f}x {worst:>13.1e}")
    for n_classes in sorted({row[1] for row in rows}):
        slowest = min(row[5] for row in rows if row[1] == n_classes)
        target = TARGETS[n_classes]
        print(f"target at C={n_classes}: at least {target:.0f}x in CPU time, with and without "
              f"weights: {'met' if slowest >= target else 'NOT met'} (lowest {slowest:.1f}x)")
    print(f"load average (1, 5, 15 min): {', '.join(f'{x:.2f}' for x in os.getloadavg())}")

    n, n_classes = sizes[0]
    labels, scores = make_data(n, n_classes)
    for weight in (None, make_weights(n)):
        peak = peak_memory(labels, scores, weight)
        print(f"peak memory of evaluate() at {n:,} x {n_classes}, "
              f"{'no' if weight is None else 'float64'} weights: {peak / 2**20:.0f} MiB = "
              f"{peak / scores.nbytes:.1f} x y_score ({scores.nbytes / 2**20:.0f} MiB, "
              f"{scores.dtype})")


if __name__ == "__main__":
    main()
