"""`HistoryLogs`: put the epoch's metrics into Keras' `logs`, hence into `History`."""

from __future__ import annotations

import re
import warnings
from typing import ClassVar

from epoch_eval.sinks.base import EpochResult, Sink


class HistoryLogs(Sink):
    """Write the epoch's metrics into Keras' `logs` as Python floats.

    With the default prefix the keys are `val_f1`, `val_precision`, `val_recall`,
    `val_accuracy`, `val_roc_auc` and `val_pr_auc`. They reach `history.history`, the printed
    epoch line, and every callback listed after the evaluator (EarlyStopping, ModelCheckpoint,
    CSVLogger, ReduceLROnPlateau, TensorBoard).

    `{prefix}churn` is written whenever the evaluation has a churn (not at the first evaluated
    epoch, nor in tally mode: `CSVLogger`, which fixes its columns at the first epoch, leaves it
    out). With `intervals=True`, each value's interval adds `{prefix}<name>_low` and
    `{prefix}<name>_high`, and a binary task's best threshold adds `{prefix}best_threshold`,
    `{prefix}f1_at_best_threshold` and, when present, `{prefix}f1_at_best_threshold_heldout`
    (multilabel thresholds are per label, so they stay out of the logs).

    A key that is already in `logs` (Keras' own `val_accuracy` from
    `compile(metrics=["accuracy"])`, say) is never overwritten; one warning suggests another
    prefix.

    Args:
        prefix: prepended to each metric name.
        per_class: also write `{prefix}{metric}_{class name}` for precision, recall and F1.
        intervals: also write the intervals' bounds and the binary best threshold.
    """

    chief_only: ClassVar[bool] = False  # every worker's History needs the values
    writes_logs: ClassVar[bool] = True

    def __init__(self, prefix: str = "val_", *, per_class: bool = False,
                 intervals: bool = False) -> None:
        if not isinstance(prefix, str):
            raise ValueError(f"`prefix` must be a string. Received: prefix={prefix!r}")
        self.prefix = prefix
        self.per_class = per_class
        self.intervals = intervals
        self._warned: set[str] = set()

    def open(self) -> None:
        self._warned = set()

    def write(self, result: EpochResult) -> None:
        evaluation = result.evaluation
        values = {f"{self.prefix}{name}": value for name, value in evaluation.scalars().items()}
        if self.per_class:
            per_class = evaluation.per_class
            keys = key_safe_names(per_class.names)
            for metric in ("precision", "recall", "f1"):
                for key, value in zip(keys, getattr(per_class, metric), strict=True):
                    values[f"{self.prefix}{metric}_{key}"] = float(value)
        if evaluation.churn is not None:
            values[f"{self.prefix}churn"] = float(evaluation.churn)
        if self.intervals:
            for name, (low, high) in (evaluation.intervals or {}).items():
                values[f"{self.prefix}{name}_low"] = float(low)
                values[f"{self.prefix}{name}_high"] = float(high)
            if evaluation.task == "binary":
                for name in ("best_threshold", "f1_at_best_threshold",
                             "f1_at_best_threshold_heldout"):
                    value = getattr(evaluation, name)
                    if value is not None:
                        values[f"{self.prefix}{name}"] = float(value)
        collisions = [key for key in values if key in result.logs]
        for key, value in values.items():
            if key not in result.logs:
                result.logs[key] = value
        new = sorted(set(collisions) - self._warned)
        if new:
            self._warned.update(new)
            warnings.warn(
                f"epoch_eval: {new} already in the epoch's logs (from compile(metrics=...) or "
                "another callback) and were left as they are. Pass another prefix, e.g. "
                "HistoryLogs(prefix='val_ee_'), to log epoch_eval's values too.",
                UserWarning, stacklevel=2,
            )


def key_safe_names(names: tuple[str, ...]) -> list[str]:
    """Class names as log keys: runs of other characters than letters, digits and "_" become
    "_"; a name that would repeat an earlier key gets its class index appended ("a_b_3")."""
    keys: list[str] = []
    for index, name in enumerate(names):
        key = re.sub(r"\W+", "_", name).strip("_") or "class"
        keys.append(f"{key}_{index}" if key in keys else key)
    return keys
