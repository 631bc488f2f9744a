"""`Stdout`: a compact line per evaluated epoch, and optionally a per-class report."""

from __future__ import annotations

import math
import sys
from typing import TextIO

from epoch_eval.metrics.result import SCALAR_NAMES, Evaluation
from epoch_eval.sinks.base import EpochResult, Sink


class Stdout(Sink):
    """Print one line per evaluated epoch, values with 4 decimals.

    Lines are printed just after Keras' own epoch line, so they never cut into its progress bar:
    `epoch_eval epoch 3: f1 0.9123 - precision 0.9100 - ... (macro, 360 samples)`.

    Args:
        stream: where to write; default `sys.stdout` at the time of writing.
        report: also print a per-class table (precision, recall, F1, support, ROC AUC, AP).
    """

    def __init__(self, stream: TextIO | None = None, report: bool = False) -> None:
        self.stream = stream
        self.report = report

    def write(self, result: EpochResult) -> None:
        text = format_epoch_line(result.epoch, result.evaluation)
        if self.report and result.evaluation.is_defined:
            text += "\n" + format_report(result.evaluation)
        stream = self.stream if self.stream is not None else sys.stdout
        stream.write(text + "\n")
        stream.flush()


def format_epoch_line(epoch: int, evaluation: Evaluation) -> str:
    """`epoch_eval epoch N: f1 0.9123 - precision ... (average, n samples)`."""
    head = f"epoch_eval epoch {epoch}:"
    if not evaluation.is_defined:
        return f"{head} metrics are nan ({evaluation.undefined_reason})"
    values = " - ".join(f"{name} {_number(getattr(evaluation, name))}" for name in SCALAR_NAMES)
    if evaluation.roc_auc_error_bound > 0:
        values = values.replace(f"roc_auc {_number(evaluation.roc_auc)}",
                                f"roc_auc {_number(evaluation.roc_auc)} "
                                f"(\u00b1{evaluation.roc_auc_error_bound:.4f})")
    return f"{head} {values} ({evaluation.average}, {evaluation.n_samples} samples)"


def format_report(evaluation: Evaluation) -> str:
    """A per-class table in the manner of `sklearn.metrics.classification_report`."""
    auc = {curve.label: curve.auc for curve in evaluation.roc_curves}
    ap = {curve.label: curve.average_precision for curve in evaluation.pr_curves}
    per_class = evaluation.per_class
    width = max(12, *(len(name) for name in per_class.names))
    columns = ("precision", "recall", "f1", "support", "roc_auc", "pr_auc")
    lines = [f"{'':>{width}} " + " ".join(f"{c:>9}" for c in columns)]
    for i, name in enumerate(per_class.names):
        cells = (
            _number(per_class.precision[i]), _number(per_class.recall[i]),
            _number(per_class.f1[i]), _count(per_class.support[i]),
            _number(auc[name]) if name in auc else "-",
            _number(ap[name]) if name in ap else "-",
        )
        lines.append(f"{name:>{width}} " + " ".join(f"{c:>9}" for c in cells))
    return "\n".join(lines)


def _number(value: float) -> str:
    return "nan" if math.isnan(value) else f"{value:.4f}"


def _count(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"
