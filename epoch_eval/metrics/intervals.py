"""Confidence intervals on every metric of an `Evaluation`, and gains between two evaluations.

An interval describes the sampling noise of the validation set: how far the metric of this
model could move on another validation set drawn from the same population, with the model
fixed. Standard errors come in closed form from the influence of each row (`influence.py`):
the delta method for F1, precision, recall and accuracy, DeLong's variance for the ROC AUC,
the influence function of average precision (both with DeLong's small-sample factors); a
macro average adds each row's influences on every class, so the covariance between classes is
counted. The interval is built on the logit scale (`logit(v) +- z * se / (v * (1 - v))`,
mapped back), which keeps it inside [0, 1] and covers better near 0 and 1; where the value is
0 or 1 it is Wilson's interval over the effective rows the metric counts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
from scipy.special import expit, ndtri

from epoch_eval.metrics.counting import (
    CountingMetrics,
    from_confusion_matrix,
    from_multilabel_matrix,
)
from epoch_eval.metrics.influence import (
    THRESHOLD_METRICS,
    RankInfluence,
    bucket_table,
    class_variances,
    dense_table_size,
    effective_rows,
    exact_rank_rows,
    held_buckets,
    multilabel_gradients,
    single_label_gradients,
    summed_squares,
    summed_squares_held,
)
from epoch_eval.metrics.result import SCALAR_NAMES, Evaluation, frozen_array
from epoch_eval.metrics.targets import Targets

RANKING_METRICS = ("roc_auc", "pr_auc")


def check_confidence(confidence: float | None) -> float | None:
    """Refuse a confidence level outside (0, 1); None (no intervals) passes."""
    if confidence is None:
        return None
    number = isinstance(confidence, (int, float, np.integer, np.floating))
    value = float(confidence) if number else float("nan")
    if isinstance(confidence, bool) or not 0.0 < value < 1.0:
        raise ValueError("Invalid `confidence` argument value. It should verify "
                         f"0 < confidence < 1. Received: confidence={confidence!r}")
    return value


def interval(value: float, standard_error: float, confidence: float,
             rows: float = 0.0) -> tuple[float, float]:
    """The two-sided interval of a metric in [0, 1], as Python floats with
    `low <= value <= high`; `(nan, nan)` where the value or its error is nan.

    Inside (0, 1) it is built on the logit scale; at 0 or 1 (every row agrees, and the
    influences vanish) it is Wilson's interval of a proportion over `rows` effective rows,
    `[rows / (rows + z**2), 1]` at 1 ([0, 1] without rows).
    """
    low, high = intervals_of(np.array([value]), np.array([standard_error]),
                             np.array([rows]), confidence)[0]
    return float(low), float(high)


def intervals_of(values: np.ndarray, errors: np.ndarray, rows: np.ndarray,
                 confidence: float) -> np.ndarray:
    """`interval` of each value, as a `(k, 2)` array."""
    values, errors, rows = (np.asarray(a, dtype=np.float64) for a in (values, errors, rows))
    z = float(ndtri(0.5 + confidence / 2))
    out = np.full((len(values), 2), np.nan)
    known = ~(np.isnan(values) | np.isnan(errors))
    inside = known & (values > 0) & (values < 1)
    v = values[inside]
    centre = np.log(v / (1 - v))
    half = z * errors[inside] / (v * (1 - v))
    out[inside] = np.column_stack([expit(centre - half), expit(centre + half)])
    edge = known & ~inside
    far = np.where(rows[edge] > 0, z * z / (rows[edge] + z * z), 1.0)  # Wilson's distance
    spread = np.maximum(far, z * errors[edge])
    out[edge] = np.clip(np.column_stack([values[edge] - spread, values[edge] + spread]), 0, 1)
    out[:, 0] = np.minimum(out[:, 0], values)
    out[:, 1] = np.maximum(out[:, 1], values)
    return out


@dataclass(frozen=True)
class Intervals:
    """What `Evaluation` carries about its uncertainty, before it is set on one.

    Attributes:
        confidence: the level.
        standard_errors: each of `SCALAR_NAMES` -> its standard error.
        rows: each of `SCALAR_NAMES` -> the effective number of rows it counts (for its
            interval at 0 or 1).
        per_class_standard_errors, per_class_rows: `"precision"`, `"recall"`, `"f1"` ->
            `(C,)` arrays of the same per class.
    """

    confidence: float
    standard_errors: Mapping[str, float]
    rows: Mapping[str, float]
    per_class_standard_errors: Mapping[str, np.ndarray]
    per_class_rows: Mapping[str, np.ndarray]

    def apply(self, evaluation: Evaluation) -> Evaluation:
        """`evaluation` with its intervals, around its own values."""
        scalars = evaluation.scalars()
        bounds = intervals_of(np.array([scalars[name] for name in SCALAR_NAMES]),
                              np.array([self.standard_errors[name] for name in SCALAR_NAMES]),
                              np.array([self.rows[name] for name in SCALAR_NAMES]),
                              self.confidence)
        intervals = {name: (float(low), float(high))
                     for name, (low, high) in zip(SCALAR_NAMES, bounds, strict=True)}
        per_class = {name: frozen_array(intervals_of(
            getattr(evaluation.per_class, name), errors, self.per_class_rows[name],
            self.confidence)) for name, errors in self.per_class_standard_errors.items()}
        return replace(evaluation, confidence=self.confidence, intervals=intervals,
                       per_class_intervals=per_class,
                       standard_errors=dict(self.standard_errors))


def _counted_rows(matrix: np.ndarray, squares: np.ndarray,
                  ) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The effective rows each class's precision, recall and F1 count (its predicted rows,
    its true rows, both) of `(..., C, C)` matrices, and those of all rows."""
    def kish(select) -> np.ndarray:
        return effective_rows(select(matrix), select(squares))

    def column(a: np.ndarray) -> np.ndarray:
        return a.sum(axis=-2)

    def row(a: np.ndarray) -> np.ndarray:
        return a.sum(axis=-1)

    def either(a: np.ndarray) -> np.ndarray:
        return a.sum(axis=-2) + a.sum(axis=-1) - np.diagonal(a, axis1=-2, axis2=-1)

    per_class = {"precision": kish(column), "recall": kish(row), "f1": kish(either)}
    return per_class, kish(lambda a: a.sum(axis=(-2, -1)))


def _threshold_rows(matrix: np.ndarray, squares: np.ndarray, average: str,
                    multilabel: bool) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """The effective rows of the threshold scalars and of each class's metrics."""
    per_class, everything = _counted_rows(matrix, squares)
    if multilabel:  # each label's positive class; an average pools the labels' rows
        per_class = {name: rows[:, 1] for name, rows in per_class.items()}
        pooled, _ = _counted_rows(matrix.sum(axis=0), squares.sum(axis=0))
        scalars = {name: float(rows[1]) for name, rows in pooled.items()}
        return {**scalars, "accuracy": float(everything[0])}, per_class
    if average == "binary":
        scalars = {name: float(rows[1]) for name, rows in per_class.items()}
    else:
        scalars = dict.fromkeys(THRESHOLD_METRICS, float(everything))
    return {**scalars, "accuracy": float(everything)}, per_class


def _ranking_rows(influences: Sequence[RankInfluence]) -> dict[str, float]:
    """The effective rows of the macro ROC AUC (the smaller side of each class) and AP
    (the positives), summed over the classes where each is defined."""
    auc = sum(float(i.effective.min()) for i in influences if not np.isnan(i.values[0]))
    ap = sum(float(i.effective[1]) for i in influences if not np.isnan(i.values[1]))
    return {"roc_auc": auc, "pr_auc": ap}


def _macro(influences: Sequence[RankInfluence]) -> tuple[np.ndarray, np.ndarray]:
    """The classes where each ranking metric is defined, `(K, 2)`, and their counts."""
    defined = np.array([~np.isnan(i.values) for i in influences]).reshape(-1, 2)
    return defined, defined.sum(axis=0)


def predict_intervals(targets: Targets, predicted: np.ndarray, counting: CountingMetrics,
                      influences: Sequence[RankInfluence], confidence: float) -> Intervals:
    """The standard errors of `evaluate()`'s metrics, from its confusion matrix and each
    class's ranked counts.

    Args:
        targets: the validated labels, scores and weights.
        predicted: the predicted class of each row, or `(n, L)` booleans (multilabel).
        counting: the threshold metrics and confusion matrix.
        influences: per ranked class (binary: the positive class only), its influences.
        confidence: the confidence level.
    """
    weight = targets.sample_weight
    squared = None if weight is None else weight * weight
    errors: dict[str, float] = {}
    squares_matrix: np.ndarray
    if targets.task == "multilabel":
        rows = np.zeros((len(targets.labels), 3))
        tables = multilabel_gradients(counting.confusion_matrix, targets.average)
        squares = np.zeros((targets.n_classes, 4))
        for k in range(targets.n_classes):
            cell = targets.labels[:, k] * np.uint8(2) + predicted[:, k]
            rows += tables[k][cell]
            squares[k] = np.bincount(cell, weights=squared, minlength=4)
        for j, name in enumerate(THRESHOLD_METRICS):
            errors[name] = _root(_weighted_squares(rows[:, j], squared))
        exact = (targets.labels == predicted).all(axis=1)
        total = float(counting.confusion_matrix[0].sum())
        errors["accuracy"] = _root(_weighted_squares(
            (exact - counting.accuracy) / total, squared)) if total > 0 else float("nan")
        squares_matrix = squares.reshape(-1, 2, 2)
    else:
        matrix = np.asarray(counting.confusion_matrix, dtype=np.float64)
        if weight is None:
            squares_matrix = matrix
        else:
            flat = targets.labels * targets.n_classes + predicted
            squares_matrix = np.bincount(flat, weights=squared, minlength=matrix.size
                                         ).reshape(matrix.shape).astype(np.float64)
        gradients = single_label_gradients(matrix, targets.average)
        for name in (*THRESHOLD_METRICS, "accuracy"):
            errors[name] = _root(float(np.sum(squares_matrix * gradients[name] ** 2)))
    errors.update(_ranking_errors(targets, influences))
    return _intervals(confidence, errors, counting.confusion_matrix, squares_matrix,
                      targets.average, targets.task == "multilabel", influences)


def _intervals(confidence: float, errors: dict[str, float], matrix: np.ndarray,
               squares: np.ndarray, average: str, multilabel: bool,
               influences: Sequence[RankInfluence]) -> Intervals:
    """`Intervals` of these scalar errors, with each class's errors and every effective
    count from the confusion matrix and its squared weights."""
    matrix = np.asarray(matrix, dtype=np.float64)
    per_class = class_variances(matrix, squares)
    if multilabel:  # each label's positive class
        per_class = {name: v[:, 1] for name, v in per_class.items()}
    rows, per_class_rows = _threshold_rows(matrix, squares, average, multilabel)
    rows.update(_ranking_rows(influences))
    return Intervals(confidence, errors, rows,
                     {name: np.sqrt(v) for name, v in per_class.items()}, per_class_rows)


def _ranking_errors(targets: Targets,
                    influences: Sequence[RankInfluence]) -> dict[str, float]:
    """The standard errors of the macro ROC AUC and AP. Binary: DeLong's and AP's exact
    variances. Several classes: each row's influences on every class added up (so the
    covariances between classes count), read from the classes' tables by score bucket."""
    defined, counts = _macro(influences)
    if targets.task == "binary":
        total = influences[0].variances
    elif len(targets.labels) * targets.n_classes < 2 * dense_table_size(influences):
        # few rows for the buckets their scores span: look each row up among the held ones
        held = held_buckets(influences, defined)
        total = summed_squares_held(targets.scores, targets.labels, held, targets.sample_weight)
    else:
        tables = []
        for influence, mask in zip(influences, defined, strict=True):
            lowest, table = bucket_table(influence)
            tables.append((lowest, table * mask))  # an undefined metric: no influence
        truth = targets.labels
        total = summed_squares(targets.scores, truth, tables, targets.sample_weight)
    with np.errstate(invalid="ignore", divide="ignore"):
        variance = np.where(counts > 0, total / np.maximum(counts, 1) ** 2, np.nan)
    return {name: _root(float(variance[j])) for j, name in enumerate(RANKING_METRICS)}


def binned_intervals(counting: CountingMetrics, average: str, n_samples: int,
                     influences: Sequence[RankInfluence], confidence: float,
                     multilabel: bool) -> Intervals:
    """The standard errors of a tally's metrics from its counts alone (`influences` from
    ranked counts whose squared weights are estimated with `mean_weight`).

    Each cell of the confusion matrix and each (class, bin) of the histograms is a group of
    alike rows. A tally does not count squared weights: each group's is taken as its weight
    times the mean weight (exact without weights, low by the factor `1 + cv**2` of the
    weights' coefficient of variation otherwise). Without rows, the covariance between the
    classes of a macro ROC AUC or AP, and between the labels of a multilabel average, is
    not known: they are taken as independent.
    """
    matrix = np.asarray(counting.confusion_matrix, dtype=np.float64)
    scale = mean_weight(matrix, n_samples, multilabel)
    errors: dict[str, float] = {}
    if multilabel:
        tables = multilabel_gradients(matrix, average)
        cells = matrix.reshape(len(matrix), 4) * scale  # cell 2 * true + predicted
        for j, name in enumerate(THRESHOLD_METRICS):
            errors[name] = _root(float(np.sum(cells * tables[:, :, j] ** 2)))
        accuracy = counting.accuracy
        errors["accuracy"] = _root(accuracy * (1 - accuracy) / n_samples) \
            if n_samples > 0 else float("nan")
    else:
        gradients = single_label_gradients(matrix, average)
        for name in (*THRESHOLD_METRICS, "accuracy"):
            errors[name] = _root(float(np.sum(matrix * scale * gradients[name] ** 2)))
    _, counts = _macro(influences)
    summed = np.nansum([i.variances for i in influences], axis=0).reshape(2)
    with np.errstate(invalid="ignore", divide="ignore"):
        variance = np.where(counts > 0, summed / np.maximum(counts, 1) ** 2, np.nan)
    errors.update({name: _root(float(variance[j])) for j, name in enumerate(RANKING_METRICS)})
    return _intervals(confidence, errors, matrix, matrix * scale, average, multilabel,
                      influences)


def mean_weight(matrix: np.ndarray, n_samples: int, multilabel: bool) -> float:
    """A tally's mean weight per row, by which its squared weights are estimated."""
    total = float(matrix[0].sum()) if multilabel else float(matrix.sum())
    return total / n_samples if n_samples > 0 else 1.0


def _weighted_squares(values: np.ndarray, squared: np.ndarray | None):
    """`sum_i w_i**2 * values_i**2` over the rows (the first axis)."""
    if squared is None:
        return np.einsum("i...,i...->...", values, values)
    return np.einsum("i,i...,i...->...", squared, values, values)


def _root(variance: float) -> float:
    return float(np.sqrt(variance)) if variance >= 0 else float("nan")


# -- comparisons of two evaluations -------------------------------------------------------


@dataclass(frozen=True)
class Gain:
    """How much a metric gained from one evaluation to another, and how sure that is.

    Attributes:
        metric: one of `SCALAR_NAMES`.
        gain: the new value less the best value.
        lower_bound: a one-sided lower confidence bound on the gain at `confidence`.
        standard_error: the standard error of the gain.
        confidence: the confidence level of `lower_bound`.
    """

    metric: str
    gain: float
    lower_bound: float
    standard_error: float
    confidence: float

    @property
    def significant(self) -> bool:
        """Whether the gain is positive at this confidence (`lower_bound > 0`)."""
        return bool(self.lower_bound > 0)


def _check_metric(metric: str) -> None:
    if metric not in SCALAR_NAMES:
        raise ValueError(f"Invalid `metric` argument value. Expected one of {SCALAR_NAMES}. "
                         f"Received: metric={metric!r}")


def _gain(metric: str, gain: float, standard_error: float, confidence: float) -> Gain:
    lower = gain - float(ndtri(confidence)) * standard_error
    return Gain(metric, float(gain), float(lower), float(standard_error), confidence)


def row_influences(targets: Targets, metric: str) -> tuple[float, np.ndarray]:
    """A metric of `targets` and each row's exact influence on it, `g_i` with
    `variance = sum_i w_i**2 * g_i**2` (an argsort per class for the ranking metrics).

    Args:
        targets: from `to_targets`.
        metric: one of `SCALAR_NAMES`.

    Returns:
        The value and the `(n,)` influences.
    """
    _check_metric(metric)
    n = len(targets.labels)
    weight = targets.sample_weight
    if metric in RANKING_METRICS:
        j = RANKING_METRICS.index(metric)
        columns = [(targets.labels == 1, targets.scores)] if targets.task == "binary" else [
            (targets.labels[:, k] if targets.task == "multilabel" else targets.labels == k,
             targets.scores[:, k]) for k in range(targets.n_classes)]
        values, summed = [], np.zeros(n)
        for truth, score in columns:
            influence, rows = exact_rank_rows(truth, score, weight)
            if not np.isnan(influence.values[j]):
                values.append(influence.values[j])
                summed += rows[:, j]
        if not values:
            return float("nan"), np.full(n, np.nan)
        return float(np.mean(values)), summed / len(values)
    w = np.ones(n) if weight is None else weight
    if targets.task == "multilabel":
        predicted = targets.scores >= targets.threshold
        total = float(w.sum())
        if metric == "accuracy":
            exact = (targets.labels == predicted).all(axis=1)
            value = float(np.einsum("i,i->", w, exact)) / total
            return value, (exact - value) / total
        tp = np.einsum("i,ij->j", w, targets.labels & predicted)
        true = np.einsum("i,ij->j", w, targets.labels)
        pred = np.einsum("i,ij->j", w, predicted)
        matrix = np.stack([total - true - pred + tp, pred - tp, true - tp, tp],
                          axis=1).reshape(-1, 2, 2)
        tables = multilabel_gradients(matrix, targets.average)[..., THRESHOLD_METRICS.index(
            metric)]
        rows = np.zeros(n)
        for k in range(targets.n_classes):
            rows += tables[k][targets.labels[:, k] * 2 + predicted[:, k]]
        return _multilabel_value(matrix, metric, targets.average), rows
    predicted_class = (targets.scores >= targets.threshold).astype(np.intp) \
        if targets.task == "binary" else np.argmax(targets.scores, axis=1)
    c = targets.n_classes
    cells = np.bincount(targets.labels * c + predicted_class, weights=w,
                        minlength=c * c).reshape(c, c)
    gradient = single_label_gradients(cells, targets.average)[metric]
    return _single_label_value(cells, metric, targets.average), \
        gradient[targets.labels, predicted_class]


def _single_label_value(matrix: np.ndarray, metric: str, average: str) -> float:
    counts = from_confusion_matrix(matrix, average)
    return {"f1": counts.average_f1, "precision": counts.average_precision,
            "recall": counts.average_recall, "accuracy": counts.accuracy}[metric]


def _multilabel_value(matrix: np.ndarray, metric: str, average: str) -> float:
    counts = from_multilabel_matrix(matrix, 0.0, average)
    return {"f1": counts.average_f1, "precision": counts.average_precision,
            "recall": counts.average_recall}[metric]


def paired_gain(metric: str, new: Targets, best: Targets, *,
                confidence: float = 0.95) -> Gain:
    """The gain of `metric` from `best` to `new`, scored on the same rows, with a one-sided
    lower confidence bound from paired influences: `se**2 = sum_i w_i**2 (g_new_i -
    g_best_i)**2`. A gain is significant when its lower bound is above 0; both sets of scores
    share the rows' sampling noise, so this is much tighter than two separate intervals.
    Exact influences (an argsort per class of each epoch for the AUC and AP), without the
    small-sample factors of `evaluate()`'s intervals.

    Args:
        metric: one of `SCALAR_NAMES`.
        new, best: `to_targets(...)` of the same labels and weights (the same rows in the
            same order), with the two epochs' scores.
        confidence: the level of the one-sided bound.

    Returns:
        A `Gain`.

    Raises:
        ValueError: for an unknown metric, a confidence outside (0, 1), or targets whose
            task, labels or weights differ.

    Example:
        >>> from epoch_eval.metrics.targets import to_targets
        >>> y = [0, 1, 1, 0, 1, 0]
        >>> new = to_targets(y, [0.1, 0.9, 0.8, 0.2, 0.7, 0.3])
        >>> best = to_targets(y, [0.6, 0.4, 0.8, 0.2, 0.7, 0.3])
        >>> result = paired_gain("roc_auc", new, best)
        >>> round(result.gain, 3)
        0.111
    """
    _check_metric(metric)
    confidence = check_confidence(confidence)  # type: ignore[assignment]
    _check_paired(new, best)
    value_new, rows_new = row_influences(new, metric)
    value_best, rows_best = row_influences(best, metric)
    difference = rows_new - rows_best
    if new.sample_weight is not None:
        difference *= new.sample_weight
    error = float(np.sqrt(np.einsum("i,i->", difference, difference)))
    return _gain(metric, value_new - value_best, error, confidence)


def _check_paired(new: Targets, best: Targets) -> None:
    same_weights = (new.sample_weight is None and best.sample_weight is None) or (
        new.sample_weight is not None and best.sample_weight is not None
        and np.array_equal(new.sample_weight, best.sample_weight))
    if (new.task != best.task or new.labels.shape != best.labels.shape
            or not np.array_equal(new.labels, best.labels) or not same_weights
            or new.average != best.average or new.threshold != best.threshold):
        raise ValueError("A paired comparison needs the same rows in the same order: the "
                         "same task, labels, weights, average and threshold. Received: "
                         f"task={new.task!r}/{best.task!r}, n={len(new.labels)}/"
                         f"{len(best.labels)}")


def unpaired_gain(new: Evaluation, best: Evaluation, metric: str, *,
                  confidence: float = 0.95) -> Gain:
    """The gain of `metric` from `best` to `new` with a one-sided lower bound from their
    standard errors alone, `se**2 = se_new**2 + se_best**2`: for tally mode, where the rows
    are not kept. Two epochs scored on the same rows are positively correlated, so this
    bound is conservative (lower than a paired one would be).

    Args:
        new, best: evaluations made with a `confidence` (they carry `standard_errors`).
        metric: one of `SCALAR_NAMES`.
        confidence: the level of the one-sided bound.

    Raises:
        ValueError: for an unknown metric, a bad confidence, or an evaluation without
            standard errors.
    """
    _check_metric(metric)
    confidence = check_confidence(confidence)  # type: ignore[assignment]
    for name, evaluation in (("new", new), ("best", best)):
        if evaluation.standard_errors is None:
            raise ValueError(f"`{name}` has no standard errors: evaluate it with a "
                             f"`confidence`. Received: {name}.confidence={evaluation.confidence}")
    assert new.standard_errors is not None and best.standard_errors is not None
    error = float(np.hypot(new.standard_errors[metric], best.standard_errors[metric]))
    gain = float(getattr(new, metric)) - float(getattr(best, metric))
    return _gain(metric, gain, error, confidence)


