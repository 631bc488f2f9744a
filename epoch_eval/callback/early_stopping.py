"""`EarlyStopping`: stop training when a metric has stopped improving by more than noise."""

from __future__ import annotations

import warnings
from typing import Any

import keras

from epoch_eval.callback.epoch_evaluator import EpochEvaluator, EvaluatedEpoch
from epoch_eval.metrics.churn import same_rows
from epoch_eval.metrics.intervals import Gain, check_confidence, paired_gain, unpaired_gain
from epoch_eval.metrics.result import SCALAR_NAMES

MODES = ("auto", "max", "min")


class EarlyStopping(keras.callbacks.Callback):
    """Stop training once `monitor` has not made a *significant* gain for `patience` epochs.

    Keras' own `EarlyStopping` counts any uptick as an improvement, so noise of the
    validation set keeps resetting its patience and picks its "best" epoch. Here an epoch
    improves on the best epoch so far only when its gain is significant at `confidence`: a
    one-sided test that the whole-set value is higher (lower with `mode="min"`) on this
    validation set's population, not by chance of which rows it holds.

    In predict mode the test is paired, on the same rows (the evaluator hands over each
    epoch's labels and scores; the best epoch's are kept); if the rows come back in another
    order (a reshuffling `tf.data`) it falls back to the unpaired test, with one warning. In
    tally mode it is unpaired, from the two epochs' counts.

    Otherwise it keeps the contract of `keras.callbacks.EarlyStopping`: it sets
    `model.stop_training`, `stopped_epoch` and `best_epoch` (0-based, as Keras' own), `best`
    (the best epoch's value), and restores the best epoch's weights at the end of training
    when `restore_best_weights`.

    List it after the evaluator; it reads the evaluator's result, it computes nothing again.

    Args:
        evaluator: the `EpochEvaluator` of the same `fit`, listed before this callback.
        monitor: one of `"f1"`, `"precision"`, `"recall"`, `"accuracy"`, `"roc_auc"`,
            `"pr_auc"` (a `val_` prefix is accepted).
        patience: epochs without a significant gain after which training stops.
        confidence: the confidence of the one-sided test (0.95: a gain counts when the
            lower 95% bound of the gain is above 0).
        mode: `"auto"` and `"max"`: higher is better (all six metrics); `"min"`: lower.
        restore_best_weights: restore the weights of the best epoch when training ends.
        start_from_epoch: epochs (0-based) to wait before monitoring.
        verbose: 1 prints when it stops and when it restores weights.

    Raises:
        ValueError: for a metric that is not one of the six, or a bad argument; in
            `on_train_begin`, before any training step, for an evaluator that is not in the
            same `fit` or is listed after this callback.

    Example:
        >>> evaluator = EpochEvaluator((x_val, y_val))
        >>> model.fit(x, y, epochs=100, callbacks=[
        ...     evaluator, epoch_eval.EarlyStopping(evaluator, monitor="f1", patience=3)])
    """

    def __init__(
        self,
        evaluator: EpochEvaluator,
        monitor: str = "f1",
        patience: int = 3,
        confidence: float = 0.95,
        mode: str = "auto",
        restore_best_weights: bool = False,
        start_from_epoch: int = 0,
        verbose: int = 0,
    ) -> None:
        super().__init__()
        if not isinstance(evaluator, EpochEvaluator):
            raise ValueError(f"`evaluator` must be the EpochEvaluator of the same fit. "
                             f"Received: evaluator={evaluator!r}")
        name = monitor.removeprefix("val_") if isinstance(monitor, str) else monitor
        if name not in SCALAR_NAMES:
            raise ValueError(f"Invalid `monitor` argument value. It should be one of "
                             f"{list(SCALAR_NAMES)}. Received: monitor={monitor!r}")
        if not isinstance(patience, int) or isinstance(patience, bool) or patience < 0:
            raise ValueError(f"`patience` must be a non-negative integer. Received: "
                             f"patience={patience!r}")
        if mode not in MODES:
            raise ValueError(f"Invalid `mode` argument value. Expected one of {MODES}. "
                             f"Received: mode={mode!r}")
        if evaluator.confidence is None:
            raise ValueError("epoch_eval.EarlyStopping compares epochs by their standard "
                             "errors, which an evaluator without intervals does not compute: "
                             "create it with EpochEvaluator(..., confidence=0.95). Received: "
                             "evaluator.confidence=None")
        if not isinstance(start_from_epoch, int) or start_from_epoch < 0:
            raise ValueError(f"`start_from_epoch` must be a non-negative integer. Received: "
                             f"start_from_epoch={start_from_epoch!r}")
        self.evaluator = evaluator
        self.monitor = name
        self.patience = patience
        level = check_confidence(confidence)
        if level is None:
            raise ValueError("`confidence` must be a number in (0, 1). Received: "
                             "confidence=None")
        self.confidence = level
        self.mode = mode
        self.restore_best_weights = restore_best_weights
        self.start_from_epoch = start_from_epoch
        self.verbose = verbose
        self._reset()

    def _reset(self) -> None:
        self.wait = 0
        self.stopped_epoch = 0
        self.best: float | None = None
        self.best_epoch = 0
        self.best_weights: list[Any] | None = None
        self._best: EvaluatedEpoch | None = None
        self._warned_unpaired = False

    # -- Keras hooks ----------------------------------------------------------------------
    def on_train_begin(self, logs: dict | None = None) -> None:
        """Refuse an evaluator that is not in this fit, or listed after this callback."""
        self._reset()
        if not self.evaluator.is_fitting(self.model, self.params):
            raise ValueError(
                "epoch_eval.EarlyStopping: its evaluator is not in this fit, or is listed "
                "after it: pass the same EpochEvaluator in `callbacks=`, before the "
                "EarlyStopping (callbacks=[evaluator, EarlyStopping(evaluator, ...)]).")

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        latest = self.evaluator.latest
        if latest is None or latest.epoch != epoch + 1 or epoch < self.start_from_epoch:
            return  # not evaluated this epoch (`every`), or still warming up
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = self.model.get_weights()  # the first weights seen are the best
            self.best_epoch = epoch
        self.wait += 1
        if self._improves(latest):
            self._best = latest
            self.best = float(getattr(latest.evaluation, self.monitor))
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs: dict | None = None) -> None:
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping (no significant gain in "
                  f"{self.monitor} for {self.patience} epochs)")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print(f"Restoring model weights from the end of the best epoch: "
                      f"{self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)

    # -- the test -------------------------------------------------------------------------
    def _improves(self, latest: EvaluatedEpoch) -> bool:
        """Whether `latest` is significantly better than the best epoch so far (any defined
        value beats no best epoch yet)."""
        value = float(getattr(latest.evaluation, self.monitor))
        if value != value:  # nan: an undefined epoch never improves
            return False
        best = self._best
        if best is None:
            return True
        gain: Gain | None = None
        if latest.targets is not None and best.targets is not None:
            if same_rows(best.targets, latest.targets):
                gain = paired_gain(self.monitor, latest.targets, best.targets,
                                   confidence=self.confidence)
            elif not self._warned_unpaired:
                self._warned_unpaired = True
                warnings.warn(
                    "epoch_eval.EarlyStopping: the validation rows came back in another "
                    "order (a dataset that reshuffles?), so epochs are compared unpaired, "
                    "which needs larger gains; pass arrays or an unshuffled dataset for "
                    "the paired test.", UserWarning, stacklevel=3)
        if gain is None:
            gain = unpaired_gain(latest.evaluation, best.evaluation, self.monitor,
                                 confidence=self.confidence)
        margin = gain.gain - gain.lower_bound  # z * standard error
        improvement = -gain.gain if self.mode == "min" else gain.gain
        return improvement - margin > 0
