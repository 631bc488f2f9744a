"""`EpochEvaluator`: the Keras callback that evaluates the whole validation set each epoch."""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import keras
import numpy as np

from epoch_eval.callback.distribution import is_chief, replica_count
from epoch_eval.callback.predictions import (
    OutputKey,
    Predictions,
    check_output_key,
    labels_only,
    predict_batches,
)
from epoch_eval.callback.validation_data import Batch, ValidationData
from epoch_eval.metrics.evaluate import evaluate
from epoch_eval.metrics.result import Evaluation
from epoch_eval.metrics.targets import (
    check_average,
    check_class_names,
    check_task,
    check_threshold,
    to_targets,
)
from epoch_eval.sinks.base import EpochResult, Sink
from epoch_eval.sinks.history_logs import HistoryLogs
from epoch_eval.sinks.outputs import check_distinct_outputs, close_sinks
from epoch_eval.sinks.rendering import ChartRenderer


class EpochEvaluator(keras.callbacks.Callback):
    """Evaluate the model on the whole validation set at the end of epochs, and hand the
    result (F1, precision, recall, accuracy, ROC AUC, average precision, confusion matrix,
    curves) to sinks.

    List it BEFORE EarlyStopping, ModelCheckpoint, CSVLogger and the like: Keras passes one
    `logs` dict down the callback list, so only callbacks after this one see `val_f1`. They
    need `mode="max"` for it.

    Args:
        validation_data: `(x, y)` or `(x, y, sample_weight)` arrays (`x` may be a dict or list
            for multi-input models), a `tf.data.Dataset` of such batches, a
            `keras.utils.PyDataset`, or a zero-argument callable returning a fresh iterable of
            batches. Labels and predictions are taken in one pass.
        sinks: where results go; default `(HistoryLogs(),)`.
        every: evaluate at epochs `every`, `2 * every`, ... (1-based), and at the last epoch.
        task, threshold, average, from_logits, class_names: as in `epoch_eval.evaluate`.
        batch_size: rows per prediction batch for array data (default 32).
        steps: batches per evaluation; required for an infinite dataset.
        output: for a multi-output model, the name or index of the output to evaluate.

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
    ) -> None:
        super().__init__()
        if not isinstance(every, int) or isinstance(every, bool) or every < 1:
            raise ValueError(f"`every` must be a positive integer. Received: every={every!r}")
        check_task(task)
        check_threshold(threshold)
        check_average(average, task)
        self.validation_data = ValidationData(validation_data, batch_size=batch_size,
                                              steps=steps)
        self.sinks: tuple[Sink, ...] = _check_sinks(sinks)
        self.every = every
        self.task = task
        self.threshold = threshold
        self.average = average
        self.from_logits = from_logits
        self.class_names = check_class_names(class_names)
        self.output = output
        self._reset()

    def _reset(self) -> None:
        renderer = getattr(self, "_renderer", None)
        if renderer is not None:  # left by a fit that raised: let its last charts finish
            renderer.close()
        self._renderer: ChartRenderer | None = None
        self._resolved_task: str | None = self.task
        self._active: tuple[Sink, ...] = ()
        self._deferred: list[EpochResult] = []
        self._last_evaluated: int | None = None
        self._last_seen: int | None = None

    # -- Keras hooks ----------------------------------------------------------------------
    def on_train_begin(self, logs: dict | None = None) -> None:
        """Check the data, the model and every sink before the first training step."""
        self._reset()
        check_output_key(self.model, self.output)
        self._resolved_task = self._probe()
        chief = is_chief(self.model)
        active = [sink for sink in self.sinks if chief or not sink.chief_only]
        check_distinct_outputs(active)
        opened: list[Sink] = []
        try:
            for sink in active:
                sink.open()
                opened.append(sink)
        except BaseException:
            close_sinks(opened)
            raise
        self._active = tuple(active)
        self._renderer = ChartRenderer.for_sinks(active)

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._deliver_deferred()

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

    # -- evaluation -----------------------------------------------------------------------
    def evaluate_now(self) -> Evaluation:
        """Evaluate the current model on the validation data (also usable outside `fit`).

        Raises:
            ValueError: when no model is set yet (before `fit`, call `set_model(model)`).
        """
        if self.model is None:
            raise ValueError("evaluate_now() needs a model: call it during or after fit(), "
                             "or call set_model(model) first.")
        predictions = self._predict()
        if not np.all(np.isfinite(predictions.y_score)):
            bad = int(np.sum(~np.isfinite(predictions.y_score)))
            reason = (f"the model predicted {bad} NaN or infinite values (has training "
                      "diverged?)")
            warnings.warn(f"epoch_eval: metrics are nan because {reason}.", RuntimeWarning,
                          stacklevel=2)
            return self._undefined(predictions, reason)
        try:
            return evaluate(
                predictions.y_true, predictions.y_score, task=self._resolved_task,
                threshold=self.threshold, average=self.average, from_logits=self.from_logits,
                sample_weight=predictions.sample_weight, class_names=self.class_names,
            )
        except ValueError as error:
            warnings.warn(f"epoch_eval: metrics are nan because the validation data does not "
                          f"fit: {error}", RuntimeWarning, stacklevel=2)
            return self._undefined(predictions, str(error))

    def _publish(self, epoch: int, logs: dict) -> None:
        evaluation = self.evaluate_now()
        charts = None if self._renderer is None else self._renderer.charts_of(epoch + 1,
                                                                              evaluation)
        result = EpochResult(epoch + 1, evaluation, logs, charts)  # type: ignore[arg-type]
        self._last_evaluated = epoch
        for sink in self._active:
            if sink.writes_logs:
                self._write(sink, result)
        self._deferred.append(result)

    def _deliver_deferred(self) -> None:
        """Hand results to the sinks that wait for Keras' epoch line to be printed."""
        results, self._deferred = self._deferred, []
        for result in results:
            for sink in self._active:
                if not sink.writes_logs:
                    self._write(sink, result)

    @staticmethod
    def _write(sink: Sink, result: EpochResult) -> None:
        try:
            sink.write(result)
        except Exception as error:  # a sink must never end a training run
            warnings.warn(f"epoch_eval: {type(sink).__name__} failed at epoch {result.epoch} "
                          f"({type(error).__name__}: {error}); training goes on.",
                          RuntimeWarning, stacklevel=3)

    def _predict(self, batches: Iterable[Batch] | None = None) -> Predictions:
        """Predictions over `batches` (default: a fresh pass over the validation data)."""
        return predict_batches(self.model,
                               self.validation_data.batches() if batches is None else batches,
                               self.output, distributed=replica_count(self.model) > 1)

    def _probe(self) -> str:
        """Check, before training, that the validation data fits the model and the settings.

        One whole pass reads every label (a pass cut short would leave a `PyDataset`'s
        prefetched batches to the next one); then the first batch goes through the model, for
        its inputs and output width. Returns the task, inferred here once from all the
        labels, so that every epoch is scored the same way.
        """
        batches: list[Batch] = []

        def keep_first(all_batches: Iterable[Batch]) -> Iterator[Batch]:
            for batch in all_batches:
                if not batches:
                    batches.append(batch)
                yield batch

        y_true, sample_weight = labels_only(
            self.model, keep_first(self.validation_data.batches()), self.output)
        width = self._predict(batches).y_score.shape[1:]
        scores = np.broadcast_to(np.full(width, 0.5, dtype=np.float32), (len(y_true), *width))
        try:
            targets = to_targets(
                y_true, scores, task=self.task, threshold=self.threshold, average=self.average,
                sample_weight=sample_weight, class_names=self.class_names,
            )
        except ValueError as error:
            raise ValueError(f"The validation data does not fit the model or the evaluator's "
                             f"settings (labels of shape {y_true.shape}, predictions of shape "
                             f"{(len(y_true), *width)}): {error}") from error
        return targets.task

    def _undefined(self, predictions: Predictions, reason: str) -> Evaluation:
        width = predictions.y_score.shape[1] if predictions.y_score.ndim == 2 else 1
        task = self._resolved_task or "binary"
        n_classes = 2 if task == "binary" else width
        names = self.class_names or tuple(str(i) for i in range(n_classes))
        return Evaluation.undefined(
            task=task,  # type: ignore[arg-type]
            n_samples=len(predictions), class_names=tuple(names), threshold=self.threshold,
            average=self.average or ("binary" if task == "binary" else "macro"), reason=reason,
        )


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
