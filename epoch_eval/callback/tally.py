"""`Tally`: a compiled Keras metric that counts what `EpochEvaluator` needs during fit's own
validation pass: a weighted confusion matrix and per-class score histograms.

Its memory is fixed (classes x bins), whatever the size of the validation set, and its
variables sum across replicas (`aggregation="sum"`).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import keras
import numpy as np
from keras import ops

from epoch_eval.callback.tally_layout import TallyLayout
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
        count_training: also count the training batches, so that `logs` get the training
            pass's `f1`, `precision`, `recall`, `roc_auc` too. Off by default: an
            `EpochEvaluator` then keeps the tally out of the training step, which it would
            otherwise slow down for values the evaluator never reads. (A tally compiled
            without an evaluator counts every pass Keras runs.)
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
        count_training: bool = False,
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
        self.count_training = bool(count_training)
        self._paused_threads: set[int] = set()  # threads in `pause()`
        self._quiet_threads: set[int] = set()  # threads in `hush()`
        # set by EpochEvaluator from each epoch's start to its validation pass, when it keeps
        # the tally out of the training steps
        self.skipping_training_pass = False

    # -- Keras Metric API -----------------------------------------------------------------
    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        if self.paused:
            return
        y_pred = ops.convert_to_tensor(y_pred)
        y_true = ops.convert_to_tensor(y_true)
        if self._n_classes is None:
            self._build(tuple(y_true.shape), tuple(y_pred.shape))
        rows = ops.shape(y_pred)[0]
        y_pred = ops.cast(ops.reshape(y_pred, (rows, -1)), "float32")
        # Each row becomes a row of state slots: its confusion cell(s), one histogram slot per
        # ranked class, and the row counter; one segment_sum adds them all up. Per-op
        # overhead, not arithmetic, is what a metric costs per step, hence the lookup tables.
        if self.task == "multilabel":
            slots = self._multilabel_slots(y_true, y_pred, rows)
        else:
            slots = self._single_label_slots(y_true, y_pred, rows)
        slots = ops.reshape(slots, (-1,))
        if sample_weight is None:
            values = ops.ones_like(slots, dtype=self._count_dtype)
        else:
            weight = ops.cast(ops.reshape(sample_weight, (-1, 1)), self._count_dtype)
            width = self._layout.slots_per_row
            # every column weighted, but the row counter's, which counts the rows that weigh
            # something: the padding rows of `epoch_eval.shard` (weight 0) are not rows
            counter = np.arange(width) == width - 1
            weighed = ops.cast(ops.not_equal(weight, 0), self._count_dtype)
            values = ops.reshape(ops.where(counter, ops.broadcast_to(weighed, (rows, width)),
                                           ops.broadcast_to(weight, (rows, width))), (-1,))
        self.state.assign_add(_sum_by_slot(values, slots, self._layout.size))

    def result(self) -> dict[str, Any]:
        """Averaged F1, precision, recall (exact up to float rounding) and the binned ROC AUC
        (macro over classes), as float32.

        Keras calls this inside every compiled train and test step to build the step's logs,
        then once more, eagerly, for the epoch's logs. Inside a compiled step `roc_auc` is
        left as nan, which saves its ops on every step; eagerly, every value is computed
        (in NumPy, as NumPy float32 scalars, except on torch).
        """
        if self._n_classes is None or self.paused:
            return {}
        if self.quiet:
            nan = ops.convert_to_tensor(float("nan"), "float32")
            return {key: nan for key in LOG_KEYS if key not in self.excluded_keys}
        compiled = _in_compiled_step(self.state.value)
        if not compiled and self.skipping_training_pass:
            return {}  # the training pass's epoch logs: its steps gave no keys either
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
                "from_logits": self.from_logits, "bins": self.bins,
                "count_training": self.count_training}

    # -- reading the state ----------------------------------------------------------------
    @property
    def is_built(self) -> bool:
        """True once the first batch has fixed the task and the number of classes."""
        return self._n_classes is not None

    @property
    def resolved_average(self) -> str:
        return self.average or ("binary" if self.task == "binary" else "macro")

    def undefined_reason(self) -> str | None:
        """Why the counts since the last reset cannot be scored (NaN or infinite scores,
        labels out of range), or None. Rows of weight 0 count for nothing here either."""
        if self._n_classes is None:
            return None
        layout, state = self._layout, _read(self.state)
        if state[layout.invalid_labels].sum() > 0:
            return (f"the labels hold values outside 0..{self._n_classes - 1} (Tally("
                    f"task={self.task!r}) expects class indices or one-hot rows)")
        nonfinite = float(state[layout.nonfinite].sum())
        if nonfinite > 0:
            amount = (f"{nonfinite:.0f} " if nonfinite == round(nonfinite) else
                      f"(weight {nonfinite:.4g}) ")
            return f"the model predicted {amount}NaN or infinite values (has training diverged?)"
        return None

    def counts(self) -> BinnedCounts:
        """The state as NumPy counts (summed over replicas), for `evaluate_binned`."""
        if self._n_classes is None:
            raise ValueError("The tally has counted nothing yet: compile it with the model "
                             "(`metrics=[tally]`) and fit.")
        n, layout, task = self._n_classes, self._layout, self.task
        assert task is not None
        state = _read(self.state)
        histogram = state[layout.histogram].reshape(self._ranked_classes(), 2, self.bins + 1)
        return BinnedCounts(
            task=task,
            class_names=self._names(),
            threshold=self.threshold,
            average=self.resolved_average,
            n_samples=round(float(state[layout.rows])),
            confusion_matrix=state[layout.cells].reshape(
                (n, 2, 2) if task == "multilabel" else (n, n)),
            subset_correct=float(state[layout.subset_correct]),
            positives=histogram[:, 1, :-1],
            negatives=histogram[:, 0, :-1],
            bin_floors=logit_bin_floors(self.bins, LOGIT_RANGE),
        )

    @property
    def paused(self) -> bool:
        """True while this thread runs a step the tally stays out of (see `pause`)."""
        return threading.get_ident() in self._paused_threads

    @property
    def quiet(self) -> bool:
        """True while this thread runs a step whose logs nobody reads (see `hush`)."""
        return threading.get_ident() in self._quiet_threads

    def pause(self) -> AbstractContextManager[None]:
        """Keep the tally out of the steps traced or run in this block, on this thread: it
        neither counts nor puts values in their `logs`. `EpochEvaluator` wraps the model's
        training step in it, unless `count_training=True`."""
        return _marking(self._paused_threads)

    def hush(self) -> AbstractContextManager[None]:
        """In the steps traced or run in this block, on this thread, the tally counts but
        gives nan for every value of the step's logs instead of computing them.
        `EpochEvaluator` wraps fit's validation step in it: Keras shows no per-batch
        validation logs during fit, and it computes the epoch's values once, eagerly."""
        return _marking(self._quiet_threads)

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
        self._layout = TallyLayout(task, n_classes, self.bins)
        self.state = self.add_variable((self._layout.size,), "zeros", self._count_dtype, "sum",
                                       "state")

    def _ranked_classes(self) -> int:
        return 1 if self.task == "binary" else (self._n_classes or 0)

    def _names(self) -> tuple[str, ...]:
        n = self._n_classes or 0
        return self.class_names or tuple(str(i) for i in range(n))

    # -- per batch ------------------------------------------------------------------------
    def _single_label_slots(self, y_true: Any, y_pred: Any, rows: Any) -> Any:
        """`(rows, slots_per_row)` state slots of binary and multiclass rows."""
        layout = self._layout
        if self._true_width > 1 and self._true_width == self._pred_width:  # one-hot labels
            slot_base = ops.take(ops.convert_to_tensor(layout.row_slots[1:-1]), ops.argmax(
                ops.reshape(y_true, (rows, -1)), axis=1), axis=0)
        else:  # class indices; a label out of range lands in the "invalid label" slots
            labels = ops.cast(ops.reshape(y_true, (-1,)), "int32")
            slot_base = ops.take(ops.convert_to_tensor(layout.row_slots),
                                 ops.clip(labels, -1, layout.n_classes) + 1, axis=0)
        if self.task == "binary":
            if self._pred_width == 2:
                score = (y_pred[:, 1] - y_pred[:, 0]) if self.from_logits else y_pred[:, 1]
            else:
                score = y_pred[:, 0]
            cut = _logit(self.threshold) if self.from_logits else self.threshold
            predicted = ops.cast(score >= cut, "int32")
            outputs = score[:, None]
            scores = outputs if self.from_logits else _logit_of(outputs)
        else:
            predicted = ops.cast(ops.argmax(y_pred, axis=1), "int32")
            outputs = y_pred
            if self.from_logits:
                log_p = ops.log_softmax(y_pred, axis=1)
                scores = log_p - ops.log(-ops.expm1(ops.minimum(log_p, -1e-7)))
            else:
                scores = _logit_of(y_pred)
        predicted = predicted[:, None]
        return slot_base + ops.concatenate(
            [predicted, self._bin(scores, outputs), ops.zeros_like(predicted)], axis=1)

    def _multilabel_slots(self, y_true: Any, y_pred: Any, rows: Any) -> Any:
        """`(rows, slots_per_row)` state slots of multilabel rows."""
        layout = self._layout
        labels = ops.cast(ops.reshape(y_true, (rows, -1)) > 0.5, "int32")
        if self.from_logits:
            predicted, scores = ops.cast(y_pred >= _logit(self.threshold), "int32"), y_pred
        else:
            predicted, scores = ops.cast(y_pred >= self.threshold, "int32"), _logit_of(y_pred)
        cells = labels * 2 + predicted + ops.convert_to_tensor(layout.label_cells)
        histogram = (labels * (self.bins + 1) + self._bin(scores, y_pred)
                     + ops.convert_to_tensor(layout.label_histograms))
        all_right = ops.all(ops.equal(labels, predicted), axis=1, keepdims=True)
        subset = ops.where(all_right, layout.subset_correct, layout.discard)
        return ops.concatenate([cells, histogram, subset, ops.full_like(subset, layout.rows)],
                               axis=1)

    def _bin(self, logits: Any, outputs: Any) -> Any:
        """Bin index of each logit: one open bin at each end, the rest evenly spaced. Where
        the model's output (probability or logit) is NaN or infinite, one more bin, `bins`,
        counted apart; a probability of exactly 0 or 1 lands in an end bin."""
        width = 2 * LOGIT_RANGE / (self.bins - 2)
        # floor((x + R) / width) + 1, clipped: the cast truncates the (non-negative) value
        position = ops.clip(logits * (1 / width) + (LOGIT_RANGE / width + 1), 0, self.bins - 1)
        return ops.where(ops.isfinite(outputs), ops.cast(position, "int32"), self.bins)

    # -- in-graph estimates ---------------------------------------------------------------
    def _counting_estimates(self, state: Any, xp: Any) -> dict[str, Any]:
        """F1, precision, recall from the confusion cells of `state`, with `xp` (`keras.ops`
        inside a compiled step, NumPy eagerly)."""
        n = self._n_classes or 0
        if self.task == "multilabel":
            matrix = xp.reshape(state[self._layout.cells], (n, 2, 2))
            tp, true_sum, pred_sum = (matrix[:, 1, 1], xp.sum(matrix[:, 1, :], axis=1),
                                      xp.sum(matrix[:, :, 1], axis=1))
        else:
            matrix = xp.reshape(state[self._layout.cells], (n, n))
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
        histogram = xp.reshape(state[self._layout.histogram],
                               (self._ranked_classes(), 2, self.bins + 1))
        negatives = xp.flip(histogram[:, 0, :-1], axis=1)
        positives = xp.flip(histogram[:, 1, :-1], axis=1)
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


@contextmanager
def _marking(threads: set[int]) -> Iterator[None]:
    """Put the current thread in `threads` for the block (re-entrant)."""
    thread = threading.get_ident()
    if thread in threads:
        yield
        return
    threads.add(thread)
    try:
        yield
    finally:
        threads.discard(thread)


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


def _sum_by_slot(values: Any, slots: Any, size: int) -> Any:
    """`values` summed by slot into a vector of `size`, in the values' dtype. On torch,
    `torch.bincount`: Keras' `segment_sum` there adds in float32 (and takes several ops)."""
    if keras.backend.backend() == "torch":
        import torch

        return torch.bincount(slots, weights=values, minlength=size)
    return ops.segment_sum(values, slots, num_segments=size)


def _read(variable: Any) -> np.ndarray:
    """A metric variable's value in NumPy (under `tf.distribute`, summed over replicas)."""
    return np.asarray(ops.convert_to_numpy(variable.value), dtype=np.float64)
