"""The sink interface: where each evaluated epoch goes."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from epoch_eval.metrics.result import Evaluation

DeliverCharts = Callable[[dict[str, bytes]], None]
"""Receives the PNG bytes of an epoch's charts, keyed by chart name."""


class ChartRequests(Protocol):
    """The charts of one epoch, drawn once however many sinks ask for them."""

    def request(self, names: Sequence[str], deliver: DeliverCharts) -> None:
        """Have the charts `names` of this epoch drawn and call `deliver` with their PNG bytes.

        Each chart is drawn at most once per epoch, whichever sinks ask. `deliver` may run on
        another thread than the caller's (the evaluator draws off the training thread); a
        chart that failed to draw is left out of the dict, with a warning. For an epoch whose
        evaluation is undefined (`is_defined` False) nothing is drawn and `deliver` is not
        called.
        """


class DrawNow:
    """`ChartRequests` that draws on the calling thread: for sinks fed by hand, without an
    `EpochEvaluator` (which hands its sinks a shared, off-thread renderer instead)."""

    def __init__(self, epoch: int, evaluation: Evaluation) -> None:
        self.epoch = epoch
        self.evaluation = evaluation
        self._pngs: dict[str, bytes | None] = {}

    def request(self, names: Sequence[str], deliver: DeliverCharts) -> None:
        if not self.evaluation.is_defined:
            return
        from epoch_eval.charts.render import chart_png  # Matplotlib, lazily

        for name in names:
            if name in self._pngs:
                continue
            try:
                self._pngs[name] = chart_png(name, self.evaluation, epoch=self.epoch)
            except Exception as error:  # a chart must never take training down
                self._pngs[name] = None
                warnings.warn(f"epoch_eval: could not draw {name} for epoch {self.epoch} "
                              f"({type(error).__name__}: {error}).", RuntimeWarning,
                              stacklevel=2)
        deliver({name: png for name in names if (png := self._pngs[name]) is not None})


@dataclass(frozen=True)
class EpochResult:
    """What a sink receives for one evaluated epoch.

    Attributes:
        epoch: the 1-based epoch number, as Keras prints it.
        evaluation: the whole-validation-set metrics and curves. When the model predicted
            NaN or inf, its metrics are nan and `evaluation.is_defined` is False.
        logs: the epoch's Keras `logs` dict, shared with `History` and the callbacks listed
            after the evaluator; a sink may add keys to it.
        charts: the epoch's charts as PNG bytes, drawn once for every sink that asks
            (`result.charts.request(names, deliver)`). Default: drawn on the calling thread.
        keras_logs: Keras' own numeric values of the epoch (`loss`, `val_loss`, compiled
            metrics, `learning_rate` when a callback before the evaluator logged it), as
            floats, copied before any sink added keys to `logs`. Default: none.
    """

    epoch: int
    evaluation: Evaluation
    logs: dict[str, Any]
    charts: ChartRequests = field(default=None, compare=False, repr=False)  # type: ignore[assignment]
    keras_logs: Mapping[str, float] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.charts is None:
            object.__setattr__(self, "charts", DrawNow(self.epoch, self.evaluation))


class Sink:
    """Receives every evaluated epoch; subclass it and implement `write`.

    `EpochEvaluator` calls `open()` in `on_train_begin` (check here that the sink can work:
    raise `ValueError`/`OSError` to stop before any training step), `write()` once per evaluated
    epoch, and `close()` in `on_train_end` (finish pending work here).

    Timing: a sink whose `writes_logs` is True receives the epoch inside `on_epoch_end`, so the
    keys it adds to `result.logs` reach `History` and the callbacks listed after the evaluator.
    A sink whose `waits_for_epoch_line` is True (the default) receives it just after Keras has
    printed its own epoch line (at the next `on_epoch_begin`, or `on_train_end`), so what it
    prints never cuts into the progress bar; a `fit` interrupted at that epoch's end never
    hands it over. Sinks that print nothing (files, TensorBoard) set it False and receive the
    epoch inside `on_epoch_end`, after the sinks that write logs.

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
    waits_for_epoch_line: ClassVar[bool] = True
    chart_backlog: int | None = None
    """Epochs whose charts may wait to be drawn before training waits for them (the evaluator
    uses the smallest of its sinks' values); None: no preference."""
    draws_charts: bool = False
    """Whether this sink requests charts: the evaluator then starts its chart process at the
    start of `fit`, so that the process' imports overlap the first epoch."""

    def output_files(self) -> tuple[str, ...]:
        """Absolute `fnmatch` patterns of the files this sink writes, `*` standing for the
        epoch number; the evaluator refuses, before training, two sinks whose patterns can
        name the same file. Default: none."""
        return ()

    def open(self) -> None:
        """Prepare for a `fit()` run; raise `ValueError`/`OSError` if the sink cannot work."""

    def write(self, result: EpochResult) -> None:
        """Consume one evaluated epoch."""
        raise NotImplementedError(f"{type(self).__name__} must implement write(result)")

    def close(self) -> None:
        """Finish any pending work; called when `fit()` ends (Keras skips it when training
        raises)."""
