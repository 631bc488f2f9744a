"""Where `EpochEvaluator` gets each epoch's `Evaluation`: a second pass over validation data
(`PredictSource`, exact) or the counts a compiled `Tally` kept during fit's own validation pass
(`TallySource`, no extra pass)."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from typing import Any, Protocol

import keras
import numpy as np

from epoch_eval.callback.distribution import (
    OtherProcessFailed,
    gather_rows,
    process_count,
    process_index,
    replica_count,
)
from epoch_eval.callback.predictions import (
    OutputKey,
    Predictions,
    check_output_key,
    labels_only,
    predict_batches,
)
from epoch_eval.callback.tally import LOG_KEYS, Tally
from epoch_eval.callback.tally_steps import unwrap_steps, wrap_steps
from epoch_eval.callback.validation_data import Batch, BatchesOfProcess, ValidationData
from epoch_eval.metrics.binned import evaluate_binned
from epoch_eval.metrics.churn import churn, predicted_labels, same_rows
from epoch_eval.metrics.evaluate import evaluate_targets
from epoch_eval.metrics.result import Evaluation
from epoch_eval.metrics.targets import Targets, to_targets


class EvaluationSource(Protocol):
    """What the evaluator asks of a source, hook by hook."""

    def begin(self, model: keras.Model) -> None:
        """Check everything before the first training step (raise ValueError if it cannot
        work)."""

    def epoch_begin(self) -> None:
        """An epoch's training steps are about to run."""

    def validation_begin(self) -> None:
        """fit's validation pass is about to run."""

    def end(self, model: keras.Model) -> None:
        """Training ended (or its start failed): undo what `begin` changed."""

    def evaluation(self, model: keras.Model, logs: dict | None) -> Evaluation | None:
        """The epoch's evaluation; None when this epoch cannot be scored. `logs` is the
        epoch's logs, or None when evaluating outside an epoch end."""

    def settle_logs(self, evaluation: Evaluation, logs: dict) -> None:
        """Bring `logs` up to date once the sinks that write logs have run."""

    @property
    def last_targets(self) -> Targets | None:
        """The labels and scores of the latest epoch's evaluation (None in tally mode)."""


class PredictSource:
    """Predict the whole validation set again at each evaluation (exact).

    With several processes each predicts its own part of the rows, and every process gathers
    all of them (in process order, the same every epoch), so all compute the same values.
    `sharded`: each process was given its own part; otherwise each holds the whole set and
    takes its part of it.
    """

    def __init__(self, validation_data: ValidationData, *, task: str | None, threshold: float,
                 average: str | None, from_logits: bool,
                 class_names: tuple[str, ...] | None, output: OutputKey,
                 confidence: float | None = None, seed: int = 0,
                 sharded: bool = False) -> None:
        self.validation_data = validation_data
        self.sharded = sharded
        self._processes = 1
        self._own_data: ValidationData | BatchesOfProcess = validation_data
        self.confidence = confidence
        self.seed = seed
        self.task = task
        self.threshold = threshold
        self.average = average
        self.from_logits = from_logits
        self.class_names = class_names
        self.output = output
        self._resolved_task: str | None = task
        self._model: keras.Model | None = None
        self._last_targets: Targets | None = None
        self._warned_reordered = False

    def begin(self, model: keras.Model) -> None:
        self._model = model
        check_output_key(model, self.output)
        self._own_data = self._own_part()
        self._resolved_task = self._probe()
        self._last_targets = None
        self._warned_reordered = False

    @property
    def last_targets(self) -> Targets | None:
        return self._last_targets

    def epoch_begin(self) -> None:
        pass

    def validation_begin(self) -> None:
        pass

    def end(self, model: keras.Model) -> None:
        pass

    def evaluation(self, model: keras.Model, logs: dict | None) -> Evaluation:
        self._model = model
        predictions = self._predict()
        if not np.all(np.isfinite(predictions.y_score)):
            bad = int(np.sum(~np.isfinite(predictions.y_score)))
            reason = (f"the model predicted {bad} NaN or infinite values (has training "
                      "diverged?)")
            warnings.warn(f"epoch_eval: metrics are nan because {reason}.", RuntimeWarning,
                          stacklevel=3)
            return self._undefined(predictions, reason)
        try:
            targets = to_targets(
                predictions.y_true, predictions.y_score, task=self._resolved_task,
                threshold=self.threshold, average=self.average, from_logits=self.from_logits,
                sample_weight=predictions.sample_weight, class_names=self.class_names,
            )
            evaluation = evaluate_targets(targets, seed=self.seed, confidence=self.confidence,
                                          stacklevel=4)
        except ValueError as error:
            warnings.warn(f"epoch_eval: metrics are nan because the validation data does not "
                          f"fit: {error}", RuntimeWarning, stacklevel=3)
            return self._undefined(predictions, str(error))
        if logs is None:  # outside an epoch's end: the epochs' own sequence is left alone
            return evaluation
        evaluation = replace(evaluation, churn=self._churn(targets))
        self._last_targets = targets
        return evaluation

    def _churn(self, targets: Targets) -> float | None:
        """The churn since the previous evaluated epoch; None at the first, or (with one
        warning) when the rows came back in another order."""
        previous = self.last_targets
        if previous is None:
            return None
        if not same_rows(previous, targets):
            if not self._warned_reordered:
                self._warned_reordered = True
                warnings.warn(
                    "epoch_eval: the validation rows came back in another order than at the "
                    "previous epoch (a dataset that reshuffles?), so prediction churn is None: "
                    "it compares each row's prediction with its own. Pass arrays, a PyDataset "
                    "or an unshuffled dataset for churn.", UserWarning, stacklevel=4)
            return None
        return churn(predicted_labels(previous), predicted_labels(targets),
                     targets.sample_weight)

    def settle_logs(self, evaluation: Evaluation, logs: dict) -> None:
        pass

    def _own_part(self) -> ValidationData | BatchesOfProcess:
        """The data this process predicts: all of it, unless several processes share it."""
        self._processes = process_count()
        if self._processes == 1 or self.sharded:
            return self.validation_data
        rows = self.validation_data.rows
        if rows is not None and rows < self._processes:
            raise ValueError(
                f"The validation set has {rows} rows for {self._processes} processes: each "
                "process predicts its own part of the rows, so it needs at least one row per "
                "process.")
        return self.validation_data.part(self._processes, process_index())

    def _predict(self, batches: Iterable[Batch] | None = None) -> Predictions:
        """Predictions over `batches`, or over a fresh pass over the validation data: this
        process' part, then everyone's gathered when several processes share the work."""
        model = self._model
        if batches is not None:
            return predict_batches(model, batches, self.output,
                                   distributed=replica_count(model) > 1)

        def own() -> list[np.ndarray]:
            predictions = predict_batches(model, self._own_data.batches(), self.output,
                                          distributed=replica_count(model) > 1)
            return [predictions.y_true, predictions.y_score,
                    *([] if predictions.sample_weight is None else [predictions.sample_weight])]

        y_true, y_score, *weight = self._everyone(own)
        return Predictions(y_true, y_score, weight[0] if weight else None)

    def _everyone(self, own: Callable[[], list[np.ndarray]]) -> list[np.ndarray]:
        """`own()`'s rows, with several processes every process' rows: a collective step,
        which a process that failed still takes (so that the others raise, not wait)."""
        if self._processes == 1:
            return own()
        try:
            arrays = own()
        except Exception:
            with contextlib.suppress(OtherProcessFailed):
                gather_rows(None)
            raise
        return gather_rows(arrays)

    def _probe(self) -> str:
        """Check, before training, that the validation data fits the model and the settings.

        One whole pass reads every label (a pass cut short would leave a `PyDataset`'s
        prefetched batches to the next one); then the first batch goes through the model, for
        its inputs and output width. Returns the task, inferred here once from all the
        labels (of every process), so that every epoch is scored the same way.
        """
        batches: list[Batch] = []

        def keep_first(all_batches: Iterable[Batch]) -> Iterator[Batch]:
            for batch in all_batches:
                if not batches:
                    batches.append(batch)
                yield batch

        def own() -> list[np.ndarray]:
            labels, weight = labels_only(self._model, keep_first(self._own_data.batches()),
                                         self.output)
            return [labels, *([] if weight is None else [weight])]

        y_true, *weights = self._everyone(own)
        sample_weight = weights[0] if weights else None
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


class TallySource:
    """Read a compiled `Tally` after fit's validation pass: no prediction, no pass over data.

    The `val_...` keys the tally put into `logs` (float32 estimates) are taken out before the
    sinks run and, unless a sink wrote them, put back with the exact values.
    """

    last_targets = None  # no rows are kept

    def __init__(self, tally: Tally, *, confidence: float | None = None) -> None:
        self.tally = tally
        self.confidence = confidence
        self._owned: tuple[str, ...] = ()
        self._warned_no_validation = False
        self._checked_weights = False

    def begin(self, model: keras.Model) -> None:
        compiled, weighted = _compiled_metrics(model)
        if not any(metric is self.tally for metric in compiled + weighted):
            raise ValueError(
                "The Tally given to EpochEvaluator is not compiled with the model: pass it in "
                "compile(metrics=[..., tally]) (or weighted_metrics=[tally] to count sample "
                "weights), and pass validation_data= to fit.")
        others = {_metric_name(metric) for metric in compiled + weighted
                  if metric is not self.tally}
        clashes = sorted(others & set(LOG_KEYS))
        if clashes:
            warnings.warn(f"epoch_eval: the model already has compiled metrics named {clashes}; "
                          "the Tally leaves these keys of `logs` to them.", UserWarning,
                          stacklevel=3)
        self.tally.excluded_keys = set(clashes)
        self._owned = tuple(f"val_{key}" for key in LOG_KEYS if key not in clashes)
        self._weighted = any(metric is self.tally for metric in weighted)
        self._warned_no_validation = False
        self._checked_weights = False
        wrap_steps(model, self.tally)

    def epoch_begin(self) -> None:
        self.tally.skipping_training_pass = not self.tally.count_training

    def validation_begin(self) -> None:
        self.tally.skipping_training_pass = False

    def end(self, model: keras.Model) -> None:
        self.tally.skipping_training_pass = False
        unwrap_steps(model)

    def evaluation(self, model: keras.Model, logs: dict | None) -> Evaluation | None:
        if logs is not None and not any(key.startswith("val_") for key in logs):
            # empty logs: the end of a training stopped between two `every` epochs, whose
            # last epoch may have had no validation pass; it is not scored
            if logs and not self._warned_no_validation:
                self._warned_no_validation = True
                warnings.warn(
                    "epoch_eval: no validation pass ran this epoch (fit without "
                    "validation_data=, or validation_freq > 1), so the Tally holds training "
                    "counts; such epochs are skipped.", UserWarning, stacklevel=3)
            return None
        if not self.tally.is_built:
            return None
        if not self._checked_weights:
            self._checked_weights = True
            self._warn_unseen_weights(model)
        if logs is not None:
            for key in self._owned:
                logs.pop(key, None)
        counts = self.tally.counts()
        reason = self.tally.undefined_reason()
        if reason:
            warnings.warn(f"epoch_eval: metrics are nan because {reason}.", RuntimeWarning,
                          stacklevel=3)
            return Evaluation.undefined(
                task=counts.task, n_samples=counts.n_samples, class_names=counts.class_names,
                threshold=counts.threshold, average=counts.average, reason=reason)
        return evaluate_binned(counts, confidence=self.confidence)

    def settle_logs(self, evaluation: Evaluation, logs: dict) -> None:
        scalars = evaluation.scalars()
        for key in self._owned:
            if key not in logs:
                logs[key] = scalars[key.removeprefix("val_")]

    def _warn_unseen_weights(self, model: keras.Model) -> None:
        """Warn when fit's validation arrays carry sample weights that a Tally compiled in
        `metrics=` (not `weighted_metrics=`) never sees."""
        if self._weighted:
            return
        iterator = getattr(model, "_eval_epoch_iterator", None)
        inputs = getattr(getattr(iterator, "data_adapter", None), "_inputs", None)
        if isinstance(inputs, tuple) and len(inputs) == 3 and inputs[2] is not None:
            warnings.warn(
                "epoch_eval: the validation data carries sample weights, but Keras hands them "
                "only to metrics in compile(weighted_metrics=...): the Tally counts every row "
                "once. Compile it with weighted_metrics=[tally] to weight its counts.",
                UserWarning, stacklevel=4)


def _compiled_metrics(model: keras.Model) -> tuple[list[Any], list[Any]]:
    """The model's compiled metrics as given to `compile` (objects, or names as strings):
    those of `metrics=` and of `weighted_metrics=`."""
    compile_metrics = getattr(model, "_compile_metrics", None)
    found = []
    for attribute in ("_user_metrics", "_user_weighted_metrics"):
        given = getattr(compile_metrics, attribute, None)
        found.append(list(keras.tree.flatten(given)) if given is not None else [])
    return found[0], found[1]


def _metric_name(metric: Any) -> str:
    return metric if isinstance(metric, str) else str(getattr(metric, "name", ""))
