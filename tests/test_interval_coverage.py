"""Coverage of `evaluate(confidence=0.95)`'s intervals: validation sets drawn again and again
from one fixed population (a fixed scorer on generated data), the interval must hold the
population's value in 95% +- 3% of the draws, for each of the six scalars.

At 400 draws the standard error of a 95% coverage is 1.1 points: the band is about 3 of them;
the small sets, cheap to draw, get 1,000 draws (0.7 points).
The population's value comes from one draw of a million rows (its own noise is a twentieth of
the interval's half-width at n = 5,000). Every draw is seeded.

Run as a script to print the coverage table (`python tests/test_interval_coverage.py`);
`COVERAGE` keeps it after the tests, with the coverage of plain `value +- z * se` intervals
beside that of the logit-scale intervals `evaluate()` returns.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
from scipy.special import expit, ndtri

from epoch_eval import evaluate
from epoch_eval.metrics import SCALAR_NAMES

DRAWS = {500: 1000, 5000: 400}
"""Draws per validation-set size."""
POPULATION = 1_000_000
CONFIDENCE = 0.95
BAND = 0.03

Data = tuple[np.ndarray, np.ndarray, np.ndarray | None]


def binary_rows(rng: np.random.Generator, n: int, shift: float = 1.5) -> Data:
    """30% positives; the positives' logit raised by `shift`."""
    labels = (rng.random(n) < 0.3).astype(np.int64)
    scores = expit(rng.normal(size=n) + shift * labels - 0.5).astype(np.float32)
    return labels, scores, None


def multiclass_rows(rng: np.random.Generator, n: int) -> Data:
    """Four classes of unequal priors; the true class's logit raised, softmax scores."""
    labels = rng.choice(4, size=n, p=[0.4, 0.3, 0.2, 0.1])
    logits = rng.normal(size=(n, 4))
    logits[np.arange(n), labels] += 1.5
    logits -= logits.max(axis=1, keepdims=True)
    scores = np.exp(logits)
    scores /= scores.sum(axis=1, keepdims=True)
    return labels, scores.astype(np.float32), None


def weighted_multiclass_rows(rng: np.random.Generator, n: int) -> Data:
    """`multiclass_rows` with weights that depend on the class (so that the weighted value
    differs from the unweighted one) and vary within it."""
    labels, scores, _ = multiclass_rows(rng, n)
    weight = np.array([0.5, 1.0, 1.5, 3.0])[labels] * rng.uniform(0.5, 1.5, n)
    return labels, scores, weight


def multilabel_rows(rng: np.random.Generator, n: int) -> Data:
    """Three correlated labels (a shared factor) of prevalence about 0.2, 0.35 and 0.5."""
    shared = rng.normal(size=(n, 1))
    latent = 0.7 * shared + rng.normal(size=(n, 3))
    labels = latent > np.array([0.95, 0.45, 0.0])
    logits = 2.0 * labels - 1.0 + 0.5 * shared + rng.normal(size=(n, 3))
    return labels.astype(np.int64), expit(logits).astype(np.float32), None


@dataclass(frozen=True)
class Case:
    name: str
    rows: Callable[[np.random.Generator, int], Data]
    task: str
    average: str


CASES = {
    case.name: case for case in (
        Case("binary", binary_rows, "binary", "binary"),
        Case("binary AUC~0.99", functools.partial(binary_rows, shift=3.3), "binary", "binary"),
        Case("multiclass macro", multiclass_rows, "multiclass", "macro"),
        Case("multiclass micro", multiclass_rows, "multiclass", "micro"),
        Case("multiclass weighted-avg, sample weights", weighted_multiclass_rows,
             "multiclass", "weighted"),
        Case("multilabel macro", multilabel_rows, "multilabel", "macro"),
        Case("multilabel micro", multilabel_rows, "multilabel", "micro"),
    )
}
RUNS = [("binary", 500), ("binary", 5000), ("binary AUC~0.99", 500),
        ("multiclass macro", 500), ("multiclass macro", 5000),
        ("multiclass micro", 500), ("multiclass micro", 5000),
        ("multiclass weighted-avg, sample weights", 500),
        ("multiclass weighted-avg, sample weights", 5000),
        ("multilabel macro", 500), ("multilabel macro", 5000),
        ("multilabel micro", 500), ("multilabel micro", 5000)]

COVERAGE: dict[tuple[str, int], dict[str, tuple[float, float]]] = {}
"""(case, n) -> metric -> (coverage of the logit intervals, of plain value +- z * se)."""


@functools.cache
def population_value(name: str) -> dict[str, float]:
    """The population's value of each scalar, from one very large draw (cached)."""
    case = CASES[name]
    labels, scores, weight = case.rows(np.random.default_rng(12345), POPULATION)
    result = evaluate(labels, scores, task=case.task, average=case.average,
                      sample_weight=weight)
    return result.scalars()


def coverage(name: str, n: int) -> dict[str, tuple[float, float]]:
    """The fraction of `DRAWS[n]` seeded draws of n rows whose interval holds the population's
    value, per scalar: with `evaluate()`'s intervals and with plain Wald intervals."""
    case = CASES[name]
    truth = population_value(name)
    z = ndtri(0.5 + CONFIDENCE / 2)
    held = {metric: [0, 0] for metric in SCALAR_NAMES}
    rng = np.random.default_rng(n)
    for _ in range(DRAWS[n]):
        labels, scores, weight = case.rows(rng, n)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a rare class may miss from a small draw
            result = evaluate(labels, scores, task=case.task, average=case.average,
                              sample_weight=weight, confidence=CONFIDENCE)
        assert result.intervals is not None and result.standard_errors is not None
        for metric in SCALAR_NAMES:
            low, high = result.intervals[metric]
            held[metric][0] += low <= truth[metric] <= high
            value, error = getattr(result, metric), result.standard_errors[metric]
            held[metric][1] += abs(value - truth[metric]) <= z * error
    found = {metric: (logit / DRAWS[n], wald / DRAWS[n])
             for metric, (logit, wald) in held.items()}
    COVERAGE[(name, n)] = found
    return found


@pytest.mark.parametrize(("name", "n"), RUNS, ids=[f"{name}-{n}" for name, n in RUNS])
def test_intervals_cover_the_population_value(name: str, n: int) -> None:
    found = coverage(name, n)
    missed = {metric: logit for metric, (logit, _) in found.items()
              if abs(logit - CONFIDENCE) > BAND}
    assert not missed, f"coverage outside {CONFIDENCE:.0%} +- {BAND:.0%}: {missed}"


def table() -> str:
    """The coverage table, as the README and the issue quote it."""
    lines = [f"{'case':<42} {'n':>5} " + " ".join(f"{m:>13}" for m in SCALAR_NAMES)]
    for (name, n), found in COVERAGE.items():
        cells = " ".join(f"{100 * a:5.1f} ({100 * b:5.1f})" for a, b in
                         (found[m] for m in SCALAR_NAMES))
        lines.append(f"{name:<42} {n:>5} {cells}")
    return "\n".join(lines)


if __name__ == "__main__":
    for run in RUNS:
        coverage(*run)
    print(f"coverage (%) of 95% intervals, draws per n: {DRAWS}; logit scale "
          "(plain value +- z*se)")
    print(table())
