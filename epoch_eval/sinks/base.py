"""The sink interface: where each evaluated epoch goes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from epoch_eval.metrics.result import Evaluation


@dataclass(frozen=True)
class EpochResult:
    """What a sink receives for one evaluated epoch.

    Attributes:
        epoch: the 1-based epoch number, as Keras prints it.
        evaluation: the whole-validation-set metrics and curves. When the model predicted
            NaN or inf, its metrics are nan and `evaluation.is_defined` is False.
        logs: the epoch's Keras `logs` dict, shared with `History` and the callbacks listed
            after the evaluator; a sink may add keys to it.
    """

    epoch: int
    evaluation: Evaluation
    logs: dict[str, Any]


class Sink:
    """Receives every evaluated epoch; subclass it and implement `write`.

    `EpochEvaluator` calls `open()` in `on_train_begin` (check here that the sink can work:
    raise `ValueError`/`OSError` to stop before any training step), `write()` once per evaluated
    epoch, and `close()` in `on_train_end` (finish pending work here).

    Timing: a sink whose `writes_logs` is True receives the epoch inside `on_epoch_end`, so the
    keys it adds to `result.logs` reach `History` and the callbacks listed after the evaluator.
    Every other sink receives it just after Keras has printed its own epoch line (at the next
    `on_epoch_begin`, or `on_train_end`), so what it prints never cuts into the progress bar.

    Under a distributed strategy only the chief process calls sinks whose `chief_only` is True
    (the default), so files are written and lines printed once.

    Example:
        >>> class BestF1(Sink):
        ...     def open(self) -> None:
        ...         self.best = 0.0
        ...     def write(self, result: EpochResult) -> None:
        ...         self.best = max(self.best, result.evaluation.f1)
    """

    chief_only: ClassVar[bool] = True
    writes_logs: ClassVar[bool] = False

    def open(self) -> None:
        """Prepare for a `fit()` run; raise `ValueError`/`OSError` if the sink cannot work."""

    def write(self, result: EpochResult) -> None:
        """Consume one evaluated epoch."""
        raise NotImplementedError(f"{type(self).__name__} must implement write(result)")

    def close(self) -> None:
        """Finish any pending work; called when `fit()` ends (Keras skips it when training
        raises)."""
