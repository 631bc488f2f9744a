"""The best threshold, its F1 and the held-out F1, against scikit-learn's `f1_score` at every
distinct score (the highest threshold among equal F1s), exact and from a tally."""

from __future__ import annotations

import importlib
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn import metrics
from sklearn_oracle import (
    WEIGHT_VALUES,
    Case,
    assert_close,
    cases,
    class_labels,
    one_vs_rest,
    probabilities,
)

from epoch_eval import evaluate
from epoch_eval.metrics.binned import BinnedCounts, evaluate_binned, logit_bin_floors

best_threshold = importlib.import_module("epoch_eval.metrics.best_threshold")

PROPERTY = settings(max_examples=150, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])


def f1_at(truth: np.ndarray, predicted: np.ndarray, weight: np.ndarray | None) -> float:
    return float(metrics.f1_score(truth, predicted, sample_weight=weight, zero_division=0))


def brute_force(truth: np.ndarray, score: np.ndarray,
                weight: np.ndarray | None) -> tuple[float, float]:
    """F1 at every distinct score of the rows of non-zero weight; the highest score among the
    largest F1s. `(nan, nan)` without such a row."""
    kept = np.ones(len(score), dtype=bool) if weight is None else weight != 0
    candidates = np.unique(score[kept])[::-1]
    if len(candidates) == 0:
        return float("nan"), float("nan")
    f1 = [f1_at(truth, score >= t, weight) for t in candidates]
    best = int(np.argmax(f1))
    return float(candidates[best]), f1[best]


def buckets_by_hand(score: np.ndarray, bits: int) -> np.ndarray:
    """The top `bits` of each score's float32, in the order of the scores (the held-out
    estimate's thresholds are these buckets' floors)."""
    raw = np.asarray(score, dtype=np.float32).astype(np.float64)
    raw[raw == 0] = 0.0  # -0.0 and 0.0 are one score
    as_bits = raw.astype(np.float32).view(np.uint32).astype(np.int64)
    negative = as_bits >= 2**31
    ordered = np.where(negative, 2**32 - 1 - as_bits, as_bits + 2**31)
    return ordered >> (32 - bits)


def heldout_by_hand(truth: np.ndarray, score: np.ndarray, weight: np.ndarray | None,
                    in_a: np.ndarray, bits: int = 16) -> float:
    """The best bucket floor of each half by brute force (the highest of the largest F1s),
    measured by `f1_score` on the other half, averaged."""
    bucket = buckets_by_hand(score, bits)
    estimates = []
    for chosen_on, measured_on in ((in_a, ~in_a), (~in_a, in_a)):
        w = None if weight is None else weight[chosen_on]
        kept = np.ones(int(chosen_on.sum()), dtype=bool) if w is None else w != 0
        candidates = np.unique(bucket[chosen_on][kept])[::-1]
        other_weight = None if weight is None else weight[measured_on]
        empty = not measured_on.any() or (other_weight is not None and not other_weight.any())
        if len(candidates) == 0 or empty:
            return float("nan")
        f1 = [f1_at(truth[chosen_on], bucket[chosen_on] >= b, w) for b in candidates]
        chosen = candidates[int(np.argmax(f1))]
        estimates.append(f1_at(truth[measured_on], bucket[measured_on] >= chosen,
                               other_weight))
    return float(np.mean(estimates))


def check_case(case: Case, seed: int = 0) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = evaluate(case.y_true, case.y_score, seed=seed, **case.kwargs)
    weight = case.sample_weight
    columns = one_vs_rest(case, class_labels(case), probabilities(case))
    in_a = best_threshold.split_halves(len(case.y_true), seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        wanted = [brute_force(truth, score, weight) for truth, score in columns]
        heldout = [heldout_by_hand(truth, score, weight, in_a) for truth, score in columns]
    thresholds = [t for t, _ in wanted]
    f1s = [f for _, f in wanted]
    if case.task == "binary":
        assert isinstance(result.best_threshold, float)
        assert isinstance(result.f1_at_best_threshold, float)
        assert isinstance(result.f1_at_best_threshold_heldout, float)
    else:
        for values in (result.best_threshold, result.f1_at_best_threshold,
                       result.f1_at_best_threshold_heldout):
            assert isinstance(values, np.ndarray) and not values.flags.writeable
            assert values.shape == (len(columns),)
    # to 1e-9: the oracle's softmax of two logits and our sigmoid of their difference differ
    assert_close(np.atleast_1d(result.best_threshold), thresholds, "best threshold")
    assert_close(np.atleast_1d(result.f1_at_best_threshold), f1s, "F1 at the best threshold")
    assert_close(np.atleast_1d(result.f1_at_best_threshold_heldout), heldout, "held-out F1")


@PROPERTY
@given(cases("binary"), st.integers(0, 3))
def test_binary_equals_brute_force(case: Case, seed: int) -> None:
    check_case(case, seed)


@PROPERTY
@given(cases("multilabel"), st.integers(0, 3))
def test_multilabel_equals_brute_force(case: Case, seed: int) -> None:
    check_case(case, seed)


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2**32 - 1), st.sampled_from([1, 2, 4, 16]), st.booleans(),
       st.booleans())
def test_heldout_is_exact_whatever_the_buckets(seed, bits, weighted, tied) -> None:
    """Coarse buckets (1 bit: the sign alone) or fine ones, ties, negative scores and weights
    with zeros: the held-out F1 is the direct computation over bucket floors on the same
    halves."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 400))
    truth = rng.random(n) < rng.choice([0.05, 0.3, 0.7])
    score = rng.normal(truth * rng.choice([0.0, 1.0]), 1.0)
    if tied:
        score = np.round(score, 1)
    if rng.random() < 0.5:
        score = score.astype(np.float32)
    weight = rng.choice(WEIGHT_VALUES, size=n) if weighted else None
    in_a = best_threshold.split_halves(n, seed % 7)
    original = best_threshold.BUCKET_BITS
    try:
        best_threshold.BUCKET_BITS = bits
        got = best_threshold.heldout_f1(truth, score, weight, in_a)
    finally:
        best_threshold.BUCKET_BITS = original
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = heldout_by_hand(truth, score, weight, in_a, bits)
    assert_close(got, want, "held-out F1")


def test_halves_are_fixed_by_the_seed() -> None:
    a = best_threshold.split_halves(1001, 3)
    np.testing.assert_array_equal(a, best_threshold.split_halves(1001, 3))
    assert a.sum() == 500
    assert not np.array_equal(a, best_threshold.split_halves(1001, 4))
    rng = np.random.default_rng(5)
    y_true = rng.integers(0, 2, 300)
    y_score = np.clip(0.2 * y_true + rng.random(300), 0, 1)
    first, again = (evaluate(y_true, y_score, seed=9) for _ in range(2))
    assert first.f1_at_best_threshold_heldout == again.f1_at_best_threshold_heldout
    other = {evaluate(y_true, y_score, seed=s).f1_at_best_threshold_heldout for s in range(5)}
    assert len(other) > 1
    assert len({evaluate(y_true, y_score, seed=s).best_threshold for s in range(3)}) == 1


def test_each_half_is_equally_likely() -> None:
    """Every row is in half A about half the time over many seeds."""
    share = np.mean([best_threshold.split_halves(9, seed) for seed in range(4000)], axis=0)
    assert np.all(np.abs(share - 4 / 9) < 0.03)


def test_none_for_multiclass() -> None:
    rng = np.random.default_rng(0)
    result = evaluate(rng.integers(0, 3, 50), rng.dirichlet(np.ones(3), 50))
    assert result.best_threshold is None
    assert result.f1_at_best_threshold is None
    assert result.f1_at_best_threshold_heldout is None


def test_the_highest_threshold_wins_a_tie() -> None:
    # at 0.8: tp 1, fp 0 -> F1 2/3; at 0.4: tp 2, fp 2 -> F1 2/3 as well
    result = evaluate([1, 0, 0, 1, 0, 0], [0.8, 0.6, 0.5, 0.4, 0.3, 0.2])
    assert result.best_threshold == 0.8
    assert result.f1_at_best_threshold == pytest.approx(2 / 3)


def test_no_positive_picks_the_highest_score() -> None:
    with pytest.warns(UserWarning, match="no positive"):
        result = evaluate([0, 0, 0], [0.2, 0.9, 0.4])
    assert result.best_threshold == pytest.approx(0.9)
    assert result.f1_at_best_threshold == 0.0


def test_thresholds_are_probabilities_with_logits() -> None:
    logits = np.array([-2.0, 1.0, 0.5, 3.0])
    result = evaluate([0, 1, 0, 1], logits, from_logits=True)
    assert result.best_threshold == pytest.approx(1 / (1 + np.exp(-1.0)))
    assert result.f1_at_best_threshold == 1.0


def test_heldout_is_less_optimistic_on_noise() -> None:
    """Scores that say nothing about the labels: the in-sample F1 at the best threshold is
    biased up, the held-out one is not (both average over seeded draws)."""
    in_sample, heldout = [], []
    for seed in range(60):
        rng = np.random.default_rng(seed)
        y_true = rng.random(200) < 0.2
        result = evaluate(y_true.astype(int), rng.random(200), seed=seed)
        in_sample.append(result.f1_at_best_threshold)
        heldout.append(result.f1_at_best_threshold_heldout)
    assert np.mean(in_sample) > np.mean(heldout) + 0.03
    # predicting every row positive gives F1 2p/(1+p) = 1/3 at p = 0.2: no real skill
    assert np.mean(heldout) < 1 / 3 + 0.02


# --- tally mode ---------------------------------------------------------------------------

LOGIT_RANGE = 16.0


def bin_of(scores: np.ndarray, bins: int) -> np.ndarray:
    """The tally's binning (as in test_binned.py): evenly spaced logits, open end bins."""
    width = 2 * LOGIT_RANGE / (bins - 2)
    with np.errstate(divide="ignore"):
        z = np.log(scores) - np.log1p(-scores)
    z = np.clip(z, -LOGIT_RANGE - 1, LOGIT_RANGE + 1)
    return np.clip(np.floor((z + LOGIT_RANGE) / width) + 1, 0, bins - 1).astype(int)


def tally(task: str, truth: np.ndarray, scores: np.ndarray, weight: np.ndarray | None,
          bins: int) -> BinnedCounts:
    """A binary (`truth`, `scores` of one column) or multilabel tally."""
    w = np.ones(len(truth)) if weight is None else weight
    index = bin_of(scores, bins)
    columns = truth.shape[1]
    positives, negatives = np.zeros((columns, bins)), np.zeros((columns, bins))
    predicted = scores >= 0.5
    for k in range(columns):
        np.add.at(positives[k], index[truth[:, k], k], w[truth[:, k]])
        np.add.at(negatives[k], index[~truth[:, k], k], w[~truth[:, k]])
    if task == "binary":
        matrix = metrics.confusion_matrix(truth[:, 0], predicted[:, 0], labels=[0, 1],
                                          sample_weight=w)
        names: tuple[str, ...] = ("0", "1")
    else:
        matrix = metrics.multilabel_confusion_matrix(truth, predicted, sample_weight=w)
        names = tuple(map(str, range(columns)))
    subset = float(w[(truth == predicted).all(axis=1)].sum())
    return BinnedCounts(task, names, 0.5, "binary" if task == "binary" else "macro",
                        len(truth), matrix, subset, positives, negatives,
                        logit_bin_floors(bins, LOGIT_RANGE))


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2**32 - 1), st.sampled_from(["binary", "multilabel"]),
       st.sampled_from([8, 64, 512]), st.booleans())
def test_tally_equals_brute_force_over_bin_floors(seed, task, bins, weighted) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 200))
    columns = 1 if task == "binary" else int(rng.integers(2, 5))
    truth = rng.random((n, columns)) < rng.choice([0.1, 0.5])
    logits = rng.normal(truth * rng.choice([0.0, 2.0]), rng.choice([0.3, 3.0]))
    scores = 1 / (1 + np.exp(-logits))
    weight = rng.choice(WEIGHT_VALUES, size=n) if weighted else None
    if weight is not None and not weight.any():
        return
    result = evaluate_binned(tally(task, truth, scores, weight, bins))
    floors = logit_bin_floors(bins, LOGIT_RANGE)
    index = bin_of(scores, bins)
    wanted = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for k in range(columns):
            # the bins with weight, highest first; predicted positive: the bins from b up
            w = np.ones(n) if weight is None else weight
            occupied = np.unique(index[w > 0, k])[::-1]
            f1 = [f1_at(truth[:, k], index[:, k] >= b, weight) for b in occupied]
            best = int(np.argmax(f1))
            wanted.append((floors[occupied[best]], f1[best]))
    assert result.f1_at_best_threshold_heldout is None
    np.testing.assert_array_equal(np.atleast_1d(result.best_threshold), [t for t, _ in wanted])
    assert_close(np.atleast_1d(result.f1_at_best_threshold), [f for _, f in wanted],
                 "F1 at the best bin floor")
    if task == "binary":
        assert isinstance(result.best_threshold, float)


def test_tally_multiclass_has_none() -> None:
    counts = BinnedCounts("multiclass", ("0", "1", "2"), 0.5, "macro", 3, np.eye(3), 0.0,
                          np.eye(3, 8), np.ones((3, 8)) - np.eye(3, 8),
                          logit_bin_floors(8, LOGIT_RANGE))
    result = evaluate_binned(counts)
    assert result.best_threshold is None and result.f1_at_best_threshold is None
    assert result.f1_at_best_threshold_heldout is None
