"""`Tally`: a compiled Keras metric that counts what `EpochEvaluator` needs during fit's own
validation pass: a weighted confusion matrix and per-class score histograms.

Its memory is fixed (classes x bins), whatever the size of the validation set, and its
variables sum across replicas (`aggregation="sum"`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
from keras import ops

from epoch_eval.metrics.binned import BinnedCounts, check_bins, logit_bin_floors
from epoch_eval.metrics.result import Task
from epoch_eval.metrics.targets import check_average, check_class_names, check_task, check_threshold

# 512 bins over logits in [-16, 16] (a bin is 1/16 of a logit wide). Measured with
# benchmarks/bench_tally.py on digits after 20 epochs, the certified AUC bound is 0.00046 at 64
# bins, 0.00013 at 256, 0.00005 at 512; early, squeezed epochs need the finer bins most
# (0.018 at 512 after 2 epochs), and the state is still only classes x 2 x 512 numbers.
DEFAULT_BINS = 512
LOGIT_RANGE = 16.0
LOG_KEYS: tuple[str, ...] = ("f1", "precision", "recall", "roc_auc")


class Tally(keras.metrics.Metric):
    """Count, over each pass Keras runs, what whole-set classification metrics need.

    Compile it with the model and hand it to `EpochEvaluator`: the evaluator then reads the
    counts of fit's validation pass at each epoch's end instead of predicting again.

    Its `result()` is a dict of float32 estimates, which Keras puts into the epoch's `logs` as
    `f1`, `precision`, `recall`, `roc_auc` (and `val_...`); with an `EpochEvaluator` the
    `val_...` keys hold the exact float64 values by the time `History` records the epoch.
    A key another compiled metric already produces is left out. Inside a compiled step (the
    per-batch logs) `roc_auc` is nan.

    Sample weights reach a metric only when it is compiled with `weighted_metrics=[tally]`;
    under `metrics=[...]` every row counts once.

    Args:
        class_names: one name per class (per label for multilabel); also sets their number.
        task: `"binary"`, `"multiclass"`, `"multilabel"`, or None to infer it from the shapes
            of the first batch (multilabel must be named).
        threshold: a binary or multilabel score `>= threshold` predicts the positive class.
        average: as in `epoch_eval.evaluate` (default binary / macro).
        from_logits: the model outputs logits.
        bins: score bins per class, evenly spaced in logit space.
        name: the metric's name.

    Raises:
        ValueError: for a bad argument; at the first batch, for labels or predictions whose
            shapes do not fit.
    """

    def __init__(
        self,
        class_names: Sequence[str] | None = None,
        task: str | None = None,
        threshold: float = 0.5,
        average: str | None = None,
        from_logits: bool = False,
        bins: int = DEFAULT_BINS,
        name: str = "tally",
    ) -> None:
        super().__init__(name=name)
        check_task(task)
        self.threshold = check_threshold(threshold)
        check_average(average, task)
        self.class_names = check_class_names(class_names)
        self.task: Task | None = task  # type: ignore[assignment]
        self.average = average
        self.from_logits = bool(from_logits)
        self.bins = check_bins(bins)
        self.excluded_keys: set[str] = set()
        self._n_classes: int | None = None
        self._count_dtype = _count_dtype()

    # -- Keras Metric API -----------------------------------------------------------------
    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        y_pred = ops.convert_to_tensor(y_pred)
        y_true = ops.convert_to_tensor(y_true)
        if self._n_classes is None:
            self._build(tuple(y_true.shape), tuple(y_pred.shape))
        n_classes = self._n_classes
        assert n_classes is not None
        rows = ops.shape(y_pred)[0]
        y_pred = ops.cast(ops.reshape(y_pred, (rows, -1)), "float32")
        weight = (ops.ones((rows,), dtype=self._count_dtype) if sample_weight is None else
                  ops.cast(ops.reshape(sample_weight, (-1,)), self._count_dtype))
        labels, predicted, truth, scores = self._canonical(y_true, y_pred, rows)
        # Every count lands in one state vector through one segment_sum (per-op overhead, not
        # arithmetic, is what a metric costs per step): the confusion cells, the histogram
        # slots, then the scalars (rows, non-finite scores, multilabel subset-correct weight).
        if self.task == "multilabel":
            cells = (ops.arange(n_classes, dtype="int32")[None, :] * 4 + labels * 2 + predicted)
            cell_weight = ops.broadcast_to(weight[:, None], ops.shape(cells))
            right = ops.cast(ops.all(ops.equal(labels, predicted), axis=1), self._count_dtype)
            subset_correct = ops.sum(right * weight)
        else:
            cells = labels * n_classes + predicted
            cell_weight = weight
            subset_correct = ops.zeros((), self._count_dtype)
        nonfinite = ops.sum(ops.cast(~ops.isfinite(y_pred), self._count_dtype))
        # slot of (class k, truth t, bin b): start + (2k + t) * bins + b
        class_start = (self._histogram_start
                       + np.arange(self._ranked_classes(), dtype="int32")[None, :] * 2 * self.bins)
        slot = ops.convert_to_tensor(class_start) + truth * self.bins + self._bin(scores)
        slot_weight = ops.broadcast_to(weight[:, None], ops.shape(slot))
        scalars = ops.stack([ops.cast(rows, self._count_dtype), nonfinite, subset_correct])
        segment_ids = ops.concatenate([
            ops.reshape(cells, (-1,)), ops.reshape(slot, (-1,)),
            ops.arange(self._scalars_start, self._scalars_start + 3, dtype="int32")])
        values = ops.concatenate([
            ops.reshape(cell_weight, (-1,)), ops.reshape(slot_weight, (-1,)), scalars])
        self.state.assign_add(ops.segment_sum(values, segment_ids,
                                              num_segments=self._scalars_start + 3))

    def result(self) -> dict[str, Any]:
        """Averaged F1, precision, recall (exact up to float rounding) and the binned ROC AUC
        (macro over classes), as float32.

        Keras calls this inside every compiled train and test step to build the step's logs,
        then once more, eagerly, for the epoch's logs. Inside a compiled step `roc_auc` is
        left as nan, which saves its ops on every step; eagerly, every value is computed
        (in NumPy, as NumPy float32 scalars, except on torch).
        """
        if self._n_classes is None:
            return {}
        compiled = _in_compiled_step(self.state.value)
        if compiled or keras.backend.backend() == "torch":
            # torch runs its steps eagerly by default: its ops are cheap and stay on the device
            state, xp = self.state.value, ops
        else:
            state, xp = _read(self.state), _NumpyOps
        values = self._counting_estimates(state, xp)
        values["roc_auc"] = (ops.convert_to_tensor(float("nan"), "float32") if compiled else
                             self._auc_estimate(state, xp))
        return {key: value for key, value in values.items() if key not in self.excluded_keys}

    def reset_state(self) -> None:
        for variable in self.variables:
            variable.assign(ops.zeros(variable.shape, dtype=variable.dtype))

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "class_names": self.class_names, "task": self.task,
                "threshold": self.threshold, "average": self.average,
                "from_logits": self.from_logits, "bins": self.bins}

    # -- reading the state ----------------------------------------------------------------
    @property
    def is_built(self) -> bool:
        """True once the first batch has fixed the task and the number of classes."""
        return self._n_classes is not None

    @property
    def resolved_average(self) -> str:
        return self.average or ("binary" if self.task == "binary" else "macro")

    def nonfinite_scores(self) -> int:
        """How many NaN or infinite scores the model gave since the last reset."""
        if self._n_classes is None:
            return 0
        return round(float(_read(self.state)[self._scalars_start + 1]))

    def counts(self) -> BinnedCounts:
        """The state as NumPy counts (summed over replicas), for `evaluate_binned`."""
        if self._n_classes is None:
            raise ValueError("The tally has counted nothing yet: compile it with the model "
                             "(`metrics=[tally]`) and fit.")
        n = self._n_classes
        state = _read(self.state)
        confusion = state[:self._histogram_start]
        histogram = state[self._histogram_start:self._scalars_start]
        histogram = histogram.reshape(self._ranked_classes(), 2, self.bins)
        rows, _, subset_correct = state[self._scalars_start:]
        task = self.task
        assert task is not None
        return BinnedCounts(
            task=task,
            class_names=self._names(),
            threshold=self.threshold,
            average=self.resolved_average,
            n_samples=round(float(rows)),
            confusion_matrix=confusion.reshape((n, 2, 2) if task == "multilabel" else (n, n)),
            subset_correct=float(subset_correct),
            positives=histogram[:, 1, :],
            negatives=histogram[:, 0, :],
            bin_floors=logit_bin_floors(self.bins, LOGIT_RANGE),
        )

    # -- building -------------------------------------------------------------------------
    def _build(self, true_shape: tuple, pred_shape: tuple) -> None:
        width = 1 if len(pred_shape) < 2 else int(np.prod(pred_shape[1:]))
        true_width = 1 if len(true_shape) < 2 else int(np.prod(true_shape[1:]))
        task = self.task or _infer_task(true_width, width)
        n_classes = 2 if task == "binary" else width
        if task == "binary" and width not in (1, 2):
            raise ValueError(f"Tally(task='binary') needs one score column or two; the model "
                             f"gives {width}.")
        if task != "binary" and width < 2:
            raise ValueError(f"Tally(task={task!r}) needs one score column per class; the model "
                             f"gives {width}.")
        if task == "multilabel" and true_width != width:
            raise ValueError(f"Tally(task='multilabel') needs labels as wide as the scores. "
                             f"Received labels of shape {true_shape}, scores {pred_shape}.")
        if task == "multiclass" and true_width not in (1, width):
            raise ValueError(f"Tally(task='multiclass') needs class indices or one-hot labels. "
                             f"Received labels of shape {true_shape}, scores {pred_shape}.")
        if self.class_names is not None and len(self.class_names) != n_classes:
            raise ValueError(f"Tally has {len(self.class_names)} class_names but the model "
                             f"gives {n_classes} classes for task={task!r}.")
        check_average(self.average, task)
        self.task = task  # type: ignore[assignment]
        self._n_classes = n_classes
        self._true_width = true_width
        self._pred_width = width
        # one state vector: confusion cells, histogram slots (class, truth, bin), then rows,
        # non-finite scores and (multilabel) the subset-correct weight
        self._histogram_start = n_classes * 4 if task == "multilabel" else n_classes * n_classes
        self._scalars_start = self._histogram_start + self._ranked_classes() * 2 * self.bins
        self.state = self.add_variable((self._scalars_start + 3,), "zeros", self._count_dtype,
                                       "sum", "state")

    def _ranked_classes(self) -> int:
        return 1 if self.task == "binary" else (self._n_classes or 0)

    def _names(self) -> tuple[str, ...]:
        n = self._n_classes or 0
        return self.class_names or tuple(str(i) for i in range(n))

    # -- per batch ------------------------------------------------------------------------
    def _canonical(self, y_true: Any, y_pred: Any, rows: Any) -> tuple[Any, Any, Any, Any]:
        """Labels, predictions, per-class truth (int32) and logit-space scores `(n, K)`."""
        cut = _logit(self.threshold)
        if self.task == "multilabel":
            labels = ops.cast(ops.reshape(y_true, (rows, -1)) > 0.5, "int32")
            scores = y_pred if self.from_logits else _logit_of(y_pred)
            above = (y_pred >= cut) if self.from_logits else (y_pred >= self.threshold)
            return labels, ops.cast(above, "int32"), labels, scores
        if self._true_width > 1 and self._true_width == self._pred_width:
            labels = ops.cast(ops.argmax(ops.reshape(y_true, (rows, -1)), axis=1), "int32")
        else:
            labels = ops.cast(ops.reshape(y_true, (-1,)), "int32")
        if self.task == "binary":
            if self._pred_width == 2:
                score = (y_pred[:, 1] - y_pred[:, 0]) if self.from_logits else y_pred[:, 1]
            else:
                score = y_pred[:, 0]
            above = (score >= cut) if self.from_logits else (score >= self.threshold)
            logit = score if self.from_logits else _logit_of(score)
            return (labels, ops.cast(above, "int32"), ops.cast(labels == 1, "int32")[:, None],
                    logit[:, None])
        predicted = ops.cast(ops.argmax(y_pred, axis=1), "int32")
        if self.from_logits:
            log_p = ops.log_softmax(y_pred, axis=1)
            scores = log_p - ops.log(-ops.expm1(ops.minimum(log_p, -1e-7)))
        else:
            scores = _logit_of(y_pred)
        truth = ops.cast(ops.one_hot(labels, self._n_classes), "int32")
        return labels, predicted, truth, scores

    def _bin(self, logits: Any) -> Any:
        """Bin index of each logit: one open bin at each end, the rest evenly spaced. A NaN
        lands in some bin (clipped after the cast): its epoch is reported undefined anyway."""
        width = 2 * LOGIT_RANGE / (self.bins - 2)
        clipped = ops.clip(logits, -LOGIT_RANGE - 1.0, LOGIT_RANGE + 1.0)
        index = ops.cast(ops.floor((clipped + LOGIT_RANGE) / width) + 1, "int32")
        return ops.clip(index, 0, self.bins - 1)

    # -- in-graph estimates ---------------------------------------------------------------
    def _counting_estimates(self, state: Any, xp: Any) -> dict[str, Any]:
        """F1, precision, recall from the confusion cells of `state`, with `xp` (`keras.ops`
        inside a compiled step, NumPy eagerly)."""
        n = self._n_classes or 0
        if self.task == "multilabel":
            matrix = xp.reshape(state[:self._histogram_start], (n, 2, 2))
            tp, true_sum, pred_sum = (matrix[:, 1, 1], xp.sum(matrix[:, 1, :], axis=1),
                                      xp.sum(matrix[:, :, 1], axis=1))
        else:
            matrix = xp.reshape(state[:self._histogram_start], (n, n))
            tp = xp.diagonal(matrix)
            true_sum, pred_sum = xp.sum(matrix, axis=1), xp.sum(matrix, axis=0)
        average = self.resolved_average
        if average == "micro":
            tp, true_sum, pred_sum = xp.sum(tp), xp.sum(true_sum), xp.sum(pred_sum)
        precision, recall = _divide(tp, pred_sum, xp), _divide(tp, true_sum, xp)
        f1 = _divide(2 * tp, true_sum + pred_sum, xp)
        values = {"f1": f1, "precision": precision, "recall": recall}
        if average == "binary":
            return {key: xp.cast(v[1], "float32") for key, v in values.items()}
        if average == "weighted":
            share = _divide(true_sum, xp.sum(true_sum), xp)
            return {key: xp.cast(xp.sum(v * share), "float32") for key, v in values.items()}
        return {key: xp.cast(xp.mean(v), "float32") for key, v in values.items()}

    def _auc_estimate(self, state: Any, xp: Any) -> Any:
        """The binned ROC AUC, macro over classes, from the histogram slots of `state`."""
        histogram = xp.reshape(state[self._histogram_start:self._scalars_start],
                               (self._ranked_classes(), 2, self.bins))
        negatives = xp.flip(histogram[:, 0, :], axis=1)
        positives = xp.flip(histogram[:, 1, :], axis=1)
        p, n = xp.sum(positives, axis=1), xp.sum(negatives, axis=1)
        above = xp.cumsum(positives, axis=1) - positives  # positives in higher bins
        pairs = xp.sum(negatives * (above + 0.5 * positives), axis=1)
        defined = xp.cast((p > 0) & (n > 0), pairs.dtype)
        auc = _divide(pairs, p * n, xp)
        mean = _divide(xp.sum(auc * defined), xp.sum(defined), xp)
        return xp.cast(mean, "float32")


class _NumpyOps:
    """The few `keras.ops` functions the estimates use, in NumPy: an eager `result()` (once
    per pass, for the epoch's logs) then costs no op dispatch."""

    reshape = staticmethod(np.reshape)
    sum = staticmethod(np.sum)
    mean = staticmethod(np.mean)
    diagonal = staticmethod(np.diagonal)
    flip = staticmethod(np.flip)
    cumsum = staticmethod(np.cumsum)
    where = staticmethod(np.where)
    ones_like = staticmethod(np.ones_like)
    zeros_like = staticmethod(np.zeros_like)

    @staticmethod
    def cast(x: Any, dtype: str) -> np.ndarray:
        return np.asarray(x, dtype=dtype)


def _infer_task(true_width: int, pred_width: int) -> str:
    if pred_width <= 2:
        return "binary"
    if true_width in (1, pred_width):
        if true_width == pred_width:
            raise ValueError(
                f"Tally cannot tell one-hot labels from multi-hot ones ({pred_width} columns): "
                "pass task='multiclass' or task='multilabel'.")
        return "multiclass"
    raise ValueError(f"Tally: labels with {true_width} columns do not fit scores with "
                     f"{pred_width} columns.")


def _count_dtype() -> str:
    """float64 counts, so that weighted sums stay exact; JAX without x64 has only float32."""
    if keras.backend.backend() == "jax":
        import jax

        if not jax.config.jax_enable_x64:
            return "float32"
    return "float64"


def _in_compiled_step(value: Any) -> bool:
    """True while a compiled function (tf.function, jax.jit, torch.compile) is being traced,
    False when running eagerly; `value` is a metric variable's current value."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return not tf.executing_eagerly()
    if backend == "jax":
        import jax

        return isinstance(value, jax.core.Tracer)
    if backend == "torch":
        import torch

        return bool(torch.compiler.is_compiling())
    return False


def _logit(p: float) -> float:
    return math.log(p) - math.log1p(-p)


def _logit_of(p: Any) -> Any:
    # 1 - p is exact for p >= 0.5 (Sterbenz), so one division rounds: as accurate as
    # log(p) - log1p(-p), with one op less per score
    p = ops.cast(p, "float32")
    return ops.log(p / (1 - p))


def _divide(numerator: Any, denominator: Any, xp: Any) -> Any:
    safe = xp.where(denominator == 0, xp.ones_like(denominator), denominator)
    return xp.where(denominator == 0, xp.zeros_like(numerator), numerator / safe)


def _read(variable: Any) -> np.ndarray:
    """A metric variable's value in NumPy (under `tf.distribute`, summed over replicas)."""
    return np.asarray(ops.convert_to_numpy(variable), dtype=np.float64)
