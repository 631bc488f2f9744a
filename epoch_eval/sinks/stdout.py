"""`Stdout`: a compact line per evaluated epoch, and optionally a per-class report."""

from __future__ import annotations

import math
import sys
from typing import TextIO

import numpy as np

from epoch_eval.metrics.result import SCALAR_NAMES, Evaluation
from epoch_eval.sinks.base import EpochResult, Sink


class Stdout(Sink):
    """Print one line per evaluated epoch, values with 4 decimals.

    Lines are printed just after Keras' own epoch line, so they never cut into its progress bar:
    `epoch_eval epoch 3: f1 0.9123 - precision 0.9100 - ... (macro, 360 samples)`.

    When the evaluation carries them, each value is followed by its interval, the summary
    names the confidence level, and churn and the best threshold follow it:
    `epoch_eval epoch 3: f1 0.9644 [0.9480, 0.9781] - ... (binary, 360 samples, 95% intervals)
    - churn 0.0311 - best threshold 0.4120 (f1 0.9701, held-out 0.9650)`. Multilabel tasks
    have one best threshold per label: the line gives the mean of the per-label F1s
    (`best thresholds per label: mean f1 0.9701, held-out 0.9650`), and `report=True` each
    label's threshold.

    Args:
        stream: where to write; default `sys.stdout` at the time of writing.
        report: also print a per-class table (precision, recall, F1, support, ROC AUC, AP;
            with intervals when present, and each label's best threshold for multilabel),
            then the most confused class pairs (binary and multiclass).
    """

    def __init__(self, stream: TextIO | None = None, report: bool = False) -> None:
        self.stream = stream
        self.report = report

    def write(self, result: EpochResult) -> None:
        text = format_epoch_line(result.epoch, result.evaluation)
        if self.report and result.evaluation.is_defined:
            text += "\n" + format_report(result.evaluation)
            pairs = format_confused_pairs(result.evaluation)
            if pairs:
                text += "\n" + pairs
        stream = self.stream if self.stream is not None else sys.stdout
        stream.write(text + "\n")
        stream.flush()


def format_epoch_line(epoch: int, evaluation: Evaluation) -> str:
    """`epoch_eval epoch N: f1 0.9123 - precision ... (average, n samples)`, then churn and
    the best threshold when present."""
    head = f"epoch_eval epoch {epoch}:"
    if not evaluation.is_defined:
        return f"{head} metrics are nan ({evaluation.undefined_reason})"
    intervals = evaluation.intervals or {}
    parts = []
    for name in SCALAR_NAMES:
        part = f"{name} {_number(getattr(evaluation, name))}"
        if name == "roc_auc" and evaluation.roc_auc_error_bound > 0:
            part += f" (\u00b1{evaluation.roc_auc_error_bound:.4f})"
        if name in intervals:
            part += " " + format_interval(intervals[name])
        parts.append(part)
    summary = f"{evaluation.average}, {evaluation.n_samples} samples"
    if intervals and evaluation.confidence is not None:
        summary += f", {evaluation.confidence:.0%} intervals"
    extra = ""
    if evaluation.churn is not None:
        extra += f" - churn {_number(evaluation.churn)}"
    best = format_best_threshold(evaluation)
    if best:
        extra += f" - {best}"
    return f"{head} {' - '.join(parts)} ({summary}){extra}"


def format_interval(interval: tuple[float, float]) -> str:
    """`[0.9480, 0.9781]`."""
    low, high = interval
    return f"[{_number(low)}, {_number(high)}]"


def format_best_threshold(evaluation: Evaluation) -> str:
    """`best threshold 0.4120 (f1 0.9701, held-out 0.9650)` (binary) or
    `best thresholds per label: mean f1 0.9701, held-out 0.9650` (multilabel); "" when the
    evaluation has none."""
    if evaluation.best_threshold is None or evaluation.f1_at_best_threshold is None:
        return ""
    heldout = evaluation.f1_at_best_threshold_heldout
    if np.ndim(evaluation.best_threshold) == 0:
        text = (f"best threshold {_number(float(evaluation.best_threshold))} "
                f"(f1 {_number(float(evaluation.f1_at_best_threshold))}")
        if heldout is not None:
            text += f", held-out {_number(float(heldout))}"
        return text + ")"
    text = f"best thresholds per label: mean f1 {_mean(evaluation.f1_at_best_threshold)}"
    if heldout is not None:
        text += f", held-out {_mean(heldout)}"
    return text


def format_report(evaluation: Evaluation) -> str:
    """A per-class table in the manner of `sklearn.metrics.classification_report`.

    Precision, recall and F1 cells read `0.9644 [0.9480, 0.9781]` when the evaluation has
    per-class intervals; multilabel tables end with each label's `best_thr`, `f1@best` and
    `held_out` when the evaluation has best thresholds.
    """
    auc = {curve.label: curve.auc for curve in evaluation.roc_curves}
    ap = {curve.label: curve.average_precision for curve in evaluation.pr_curves}
    per_class = evaluation.per_class
    bands = evaluation.per_class_intervals or {}
    width = max(12, *(len(name) for name in per_class.names))
    columns = ["precision", "recall", "f1", "support", "roc_auc", "pr_auc"]
    widths = [23 if name in bands else 9 for name in columns]
    per_label = _per_label_thresholds(evaluation)
    columns += list(per_label)
    widths += [9] * len(per_label)
    lines = [f"{'':>{width}} " + " ".join(f"{c:>{w}}" for c, w in zip(columns, widths,
                                                                      strict=True))]
    for i, name in enumerate(per_class.names):

        def value(metric: str, i: int = i) -> str:
            text = _number(getattr(per_class, metric)[i])
            if metric in bands:
                text += " " + format_interval((bands[metric][i][0], bands[metric][i][1]))
            return text

        cells = [
            value("precision"), value("recall"), value("f1"), _count(per_class.support[i]),
            _number(auc[name]) if name in auc else "-",
            _number(ap[name]) if name in ap else "-",
            *(_number(values[i]) for values in per_label.values()),
        ]
        lines.append(f"{name:>{width}} " + " ".join(f"{c:>{w}}" for c, w in zip(cells, widths,
                                                                                strict=True)))
    return "\n".join(lines)


def format_confused_pairs(evaluation: Evaluation, k: int = 10) -> str:
    """`most confused (true -> predicted: count, rate of the true class)` then one line per
    pair of `Evaluation.confused_pairs(k)`; "" when there is none."""
    pairs = evaluation.confused_pairs(k)
    if not pairs:
        return ""
    lines = ["most confused (true -> predicted: count, rate of the true class)"]
    lines += [f"  {pair.true} -> {pair.predicted}: {_count(pair.count)}, {pair.rate:.1%}"
              for pair in pairs]
    return "\n".join(lines)


def _per_label_thresholds(evaluation: Evaluation) -> dict[str, np.ndarray]:
    """The multilabel per-label best-threshold columns, by header; empty otherwise."""
    if evaluation.best_threshold is None or np.ndim(evaluation.best_threshold) == 0:
        return {}
    columns = {"best_thr": evaluation.best_threshold, "f1@best": evaluation.f1_at_best_threshold,
               "held_out": evaluation.f1_at_best_threshold_heldout}
    return {name: np.asarray(values, dtype=float) for name, values in columns.items()
            if values is not None}


def _mean(values: float | np.ndarray) -> str:
    """The mean of the finite values, `nan` when there are none."""
    array = np.asarray(values, dtype=float)
    finite = array[np.isfinite(array)]
    return _number(float(finite.mean())) if finite.size else "nan"


def _number(value: float) -> str:
    return "nan" if math.isnan(value) else f"{value:.4f}"


def _count(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"
