"""`EpochEvaluator`: the Keras callback that evaluates the whole validation set each epoch."""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import keras

from epoch_eval.callback.distribution import is_chief
from epoch_eval.callback.predictions import OutputKey
from epoch_eval.callback.sources import EvaluationSource, PredictSource, TallySource
from epoch_eval.callback.tally import Tally
from epoch_eval.callback.validation_data import ValidationData
from epoch_eval.metrics.intervals import check_confidence
from epoch_eval.metrics.result import Evaluation
from epoch_eval.metrics.targets import (
    Targets,
    check_average,
    check_class_names,
    check_task,
    check_threshold,
)
from epoch_eval.sinks.base import EpochResult, Sink
from epoch_eval.sinks.history_logs import HistoryLogs
from epoch_eval.sinks.outputs import check_distinct_outputs, close_sinks
from epoch_eval.sinks.rendering import ChartRenderer


@dataclass(frozen=True)
class EvaluatedEpoch:
    """The latest evaluated epoch, as `EarlyStopping` reads it.

    Attributes:
        epoch: the 1-based epoch.
        evaluation: its `Evaluation`.
        targets: its validation labels, scores and weights, rows in pass order (predict mode);
            None in tally mode.
    """

    epoch: int
    evaluation: Evaluation
    targets: Targets | None


class EpochEvaluator(keras.callbacks.Callback):
    """Evaluate the model on the whole validation set at the end of epochs, and hand the
    result (F1, precision, recall, accuracy, ROC AUC, average precision, confusion matrix,
    curves) to sinks.

    List it BEFORE EarlyStopping, ModelCheckpoint, CSVLogger and the like: Keras passes one
    `logs` dict down the callback list, so only callbacks after this one see `val_f1`. They
    need `mode="max"` for it.

    Its first argument picks the mode. Validation data: the evaluator predicts it again at each
    evaluation, exactly (sorting every score). A compiled `Tally`: the evaluator reads the
    counts the tally kept during fit's own validation pass, with no extra pass and fixed
    memory; threshold metrics and the confusion matrix are exact, curves are binned and the
    ROC AUC comes with a certified error bound. Epochs without a validation pass are skipped.

    Args:
        validation_data: a compiled `Tally` (tally mode; the other settings are the
            tally's), or `(x, y)` or `(x, y, sample_weight)` arrays (`x` may be a dict or list
            for multi-input models), a `tf.data.Dataset` of such batches, a
            `keras.utils.PyDataset`, or a zero-argument callable returning a fresh iterable of
            batches. Labels and predictions are taken in one pass.
        sinks: where results go; default `(HistoryLogs(),)`.
        every: evaluate at epochs `every`, `2 * every`, ... (1-based), and at the last epoch.
        task, threshold, average, from_logits, class_names: as in `epoch_eval.evaluate`.
        batch_size: rows per prediction batch for array data; default: as many rows as fit
            in 4 MiB of input, between 32 and 1024 (1024 for 64 float32 features, 32 for a
            224x224x3 float32 image), since each batch costs a Python round trip.
        steps: batches per evaluation; required for an infinite dataset.
        output: for a multi-output model, the name or index of the output to evaluate.
        confidence: the confidence level of the intervals put on every value
            (`Evaluation.intervals`); None for none.
        seed: fixes the two halves of the held-out best-threshold estimate.
        sharded: with several processes (JAX's multi-process `keras.distribution`), whether
            each process was given its own part of the validation rows (True) or the whole
            set (False: each takes its own part of it). Either way each process predicts its
            part and all gather every row, so every process gets the same values of the whole
            set. Ignored with one process.

    Raises:
        ValueError: for a bad argument, or validation data that cannot work (a single-use
            generator, an infinite dataset without `steps`, arrays of different lengths).

    Example:
        >>> evaluator = EpochEvaluator((x_val, y_val), sinks=[HistoryLogs(), PngFolder("charts")])
        >>> history = model.fit(x, y, epochs=10, callbacks=[
        ...     evaluator, keras.callbacks.EarlyStopping("val_f1", mode="max", patience=3)])
        >>> history.history["val_f1"]
    """

    def __init__(
        self,
        validation_data: Any,
        sinks: Sequence[Sink] | None = None,
        every: int = 1,
        task: str | None = None,
        threshold: float = 0.5,
        average: str | None = None,
        from_logits: bool = False,
        class_names: Sequence[str] | None = None,
        batch_size: int | None = None,
        steps: int | None = None,
        output: OutputKey = None,
        confidence: float | None = 0.95,
        seed: int = 0,
        sharded: bool = False,
    ) -> None:
        super().__init__()
        self.tally = validation_data if isinstance(validation_data, Tally) else None
        if self.tally is not None:
            _refuse_data_settings(task=task, threshold=threshold, average=average,
                                  from_logits=from_logits, class_names=class_names,
                                  batch_size=batch_size, steps=steps, output=output,
                                  sharded=sharded)
        if not isinstance(every, int) or isinstance(every, bool) or every < 1:
            raise ValueError(f"`every` must be a positive integer. Received: every={every!r}")
        if not isinstance(sharded, bool):
            raise ValueError(f"`sharded` must be True or False. Received: sharded={sharded!r}")
        check_task(task)
        check_threshold(threshold)
        self.confidence = None if confidence is None else check_confidence(confidence)
        self.seed = seed
        check_average(average, task)
        self.validation_data = (None if self.tally is not None else
                                ValidationData(validation_data, batch_size=batch_size,
                                               steps=steps))
        self.sinks: tuple[Sink, ...] = _check_sinks(sinks)
        self.every = every
        self.task = task
        self.threshold = threshold
        self.average = average
        self.from_logits = from_logits
        self.class_names = check_class_names(class_names)
        self.output = output
        self.source: EvaluationSource = (
            TallySource(self.tally, confidence=self.confidence) if self.tally is not None
            else PredictSource(
                self.validation_data, task=task, threshold=threshold,  # type: ignore[arg-type]
                average=average, from_logits=from_logits, class_names=self.class_names,
                output=output, confidence=self.confidence, seed=seed, sharded=sharded))
        self._reset()

    def _reset(self) -> None:
        renderer = getattr(self, "_renderer", None)
        if renderer is not None:  # left by a fit that raised: let its last charts finish
            renderer.close()
        self._renderer: ChartRenderer | None = None
        self._active: tuple[Sink, ...] = ()
        self._deferred: list[EpochResult] = []
        self._last_evaluated: int | None = None
        self._last_seen: int | None = None
        self._fitting: tuple[keras.Model, dict] | None = None
        self.latest: EvaluatedEpoch | None = None
        """The latest evaluated epoch of the current (or last) fit."""

    # -- Keras hooks ----------------------------------------------------------------------
    def on_train_begin(self, logs: dict | None = None) -> None:
        """Check the data, the model and every sink before the first training step."""
        self._reset()
        self.source.begin(self.model)
        chief = is_chief(self.model)
        active = [sink for sink in self.sinks if chief or not sink.chief_only]
        opened: list[Sink] = []
        try:
            check_distinct_outputs(active)
            for sink in active:
                sink.open()
                opened.append(sink)
        except BaseException:
            close_sinks(opened)
            self.source.end(self.model)
            raise
        self._active = tuple(active)
        self._renderer = ChartRenderer.for_sinks(active)
        self._fitting = (self.model, self.params)

    def is_fitting(self, model: keras.Model, params: dict) -> bool:
        """Whether this evaluator has begun the `fit` of `model` whose callbacks share
        `params` (Keras hands one `params` dict to every callback of a fit)."""
        return (self._fitting is not None and self._fitting[0] is model
                and self._fitting[1] is params)

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.source.epoch_begin()
        self._deliver_deferred()

    def on_test_begin(self, logs: dict | None = None) -> None:
        self.source.validation_begin()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self._last_seen = epoch
        if (epoch + 1) % self.every and epoch + 1 != self.params.get("epochs"):
            return
        self._publish(epoch, logs if logs is not None else {})

    def on_train_end(self, logs: dict | None = None) -> None:
        try:
            if self._last_seen is not None and self._last_evaluated != self._last_seen:
                # stopped early between two `every` epochs: evaluate where training ended
                self._publish(self._last_seen, {})
            self._deliver_deferred()
        finally:
            if self._renderer is not None:  # every chart delivered (bounded) before closing
                self._renderer.close()
                self._renderer = None
            close_sinks(self._active)
            self._active = ()
            self._fitting = None
            self.source.end(self.model)

    # -- evaluation -----------------------------------------------------------------------
    def evaluate_now(self) -> Evaluation:
        """Evaluate the current model on the validation data (also usable outside `fit`); in
        tally mode, read the tally's current counts. With several processes in predict mode
        this gathers every process' rows: call it in every process.

        Raises:
            ValueError: when no model is set yet (before `fit`, call `set_model(model)`), or
                the tally has counted nothing.
        """
        if self.model is None:
            raise ValueError("evaluate_now() needs a model: call it during or after fit(), "
                             "or call set_model(model) first.")
        evaluation = self.source.evaluation(self.model, None)
        assert evaluation is not None
        return evaluation

    def _publish(self, epoch: int, logs: dict) -> None:
        evaluation = self.source.evaluation(self.model, logs)
        self._last_evaluated = epoch
        if evaluation is None:
            return
        self.latest = EvaluatedEpoch(epoch + 1, evaluation, self.source.last_targets)
        charts = None if self._renderer is None else self._renderer.charts_of(epoch + 1,
                                                                              evaluation)
        result = EpochResult(epoch + 1, evaluation, logs, charts,  # type: ignore[arg-type]
                             keras_logs=numeric_logs(logs))
        for sink in self._active:
            if sink.writes_logs:
                self._write(sink, result)
        self.source.settle_logs(evaluation, logs)
        for sink in self._active:
            if not sink.writes_logs and not sink.waits_for_epoch_line:
                self._write(sink, result)
        self._deferred.append(result)

    def _deliver_deferred(self) -> None:
        """Hand results to the sinks that wait for Keras' epoch line to be printed."""
        results, self._deferred = self._deferred, []
        for result in results:
            for sink in self._active:
                if not sink.writes_logs and sink.waits_for_epoch_line:
                    self._write(sink, result)

    @staticmethod
    def _write(sink: Sink, result: EpochResult) -> None:
        try:
            sink.write(result)
        except Exception as error:  # a sink must never end a training run
            warnings.warn(f"epoch_eval: {type(sink).__name__} failed at epoch {result.epoch} "
                          f"({type(error).__name__}: {error}); training goes on.",
                          RuntimeWarning, stacklevel=3)


def numeric_logs(logs: dict) -> dict[str, float]:
    """The numeric values of Keras' `logs` as floats (a copy, taken before the sinks run)."""
    return {key: float(value) for key, value in logs.items()
            if isinstance(value, numbers.Real) and not isinstance(value, bool)}


def _check_sinks(sinks: Sequence[Sink] | None) -> tuple[Sink, ...]:
    if sinks is None:
        return (HistoryLogs(),)
    if isinstance(sinks, Sink):
        sinks = (sinks,)
    checked = tuple(sinks)
    for sink in checked:
        if isinstance(sink, type):
            raise ValueError(f"`sinks` must hold sink instances. Received the class "
                             f"{sink.__name__}; write {sink.__name__}(...) instead.")
        if not isinstance(sink, Sink):
            raise ValueError(f"Each sink must be an instance of a subclass of epoch_eval.Sink. "
                             f"Received: {sink!r}")
    return checked


def _refuse_data_settings(**settings: object) -> None:
    """In tally mode the tally carries the task and its settings: refuse them here."""
    defaults = {"task": None, "threshold": 0.5, "average": None, "from_logits": False,
                "class_names": None, "batch_size": None, "steps": None, "output": None,
                "sharded": False}
    given = [name for name, value in settings.items() if value != defaults[name]]
    if given:
        raise ValueError(f"EpochEvaluator(tally, ...) takes {given} from the Tally: pass them "
                         f"to Tally(...) instead.")
