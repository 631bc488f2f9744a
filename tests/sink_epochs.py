"""Hand-made epochs of every task for the file sinks' tests (no Keras)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np
from chart_evaluations import (
    binary,
    multiclass,
    multiclass_with_absent_class,
    multilabel,
    undefined,
)

from epoch_eval import Evaluation
from epoch_eval.metrics.result import SCALAR_NAMES, frozen_array
from epoch_eval.sinks.base import EpochResult

TASKS = {
    "binary": lambda epoch: binary(seed=epoch),
    "multiclass": lambda epoch: multiclass(4, n=300, seed=epoch),
    "multilabel": lambda epoch: multilabel(3, n=300, seed=epoch),
    "absent_class": lambda epoch: multiclass_with_absent_class(),
    "undefined": lambda epoch: undefined(),
}


def epochs(task: str, count: int = 3, *, honest: bool = False) -> list[EpochResult]:
    """`count` epochs (1-based) of `task`, each from its own seed; `honest`: with the
    intervals, churn and best-threshold fields filled as `with_honest_fields` fills them."""
    return [EpochResult(epoch, with_honest_fields(TASKS[task](epoch), epoch) if honest
                        else TASKS[task](epoch), {}) for epoch in range(1, count + 1)]


def with_honest_fields(evaluation: Evaluation, epoch: int) -> Evaluation:
    """`evaluation` with made-up but well-formed intervals, churn (None at epoch 1, as after
    the first epoch) and best threshold (binary: floats, multilabel: per label, multiclass:
    None), each value distinct so a test can tell them apart."""
    rng = np.random.default_rng(100 + epoch)
    intervals = {}
    for name in SCALAR_NAMES:
        value = float(getattr(evaluation, name))
        below, above = rng.uniform(0.005, 0.03, 2)
        intervals[name] = (value - float(below), value + float(above))  # nan stays nan
    per_class_intervals = {}
    for name in ("precision", "recall", "f1"):
        values = np.asarray(getattr(evaluation.per_class, name), dtype=float)
        widths = rng.uniform(0.005, 0.03, (len(values), 2))
        per_class_intervals[name] = frozen_array(np.stack(
            [values - widths[:, 0], values + widths[:, 1]], axis=1))
    best: dict[str, object] = {"best_threshold": None, "f1_at_best_threshold": None,
                               "f1_at_best_threshold_heldout": None}
    if evaluation.task == "binary":
        best = {"best_threshold": 0.4 + 0.01 * epoch,
                "f1_at_best_threshold": float(evaluation.f1) + 0.02,
                "f1_at_best_threshold_heldout": float(evaluation.f1) + 0.01}
    elif evaluation.task == "multilabel":
        labels = len(evaluation.class_names)
        f1 = np.asarray(evaluation.per_class.f1, dtype=float)
        best = {"best_threshold": frozen_array(np.linspace(0.3, 0.6, labels) + 0.01 * epoch),
                "f1_at_best_threshold": frozen_array(f1 + 0.02),
                "f1_at_best_threshold_heldout": frozen_array(f1 + 0.01)}
    return dataclasses.replace(
        evaluation, confidence=0.95, intervals=intervals,
        per_class_intervals=per_class_intervals,
        churn=None if epoch == 1 else 0.01 * epoch + 0.001, **best)  # type: ignore[arg-type]


def assert_same_evaluation(read: Evaluation, written: Evaluation) -> None:
    """Every field equal, arrays element by element with nan equal to nan."""
    for item in dataclasses.fields(Evaluation):
        _assert_same(getattr(read, item.name), getattr(written, item.name), item.name)


def _assert_same(read, written, where: str) -> None:
    if dataclasses.is_dataclass(written):
        assert type(read) is type(written), where
        for item in dataclasses.fields(written):
            _assert_same(getattr(read, item.name), getattr(written, item.name),
                         f"{where}.{item.name}")
    elif isinstance(written, np.ndarray):
        assert isinstance(read, np.ndarray) and read.dtype == written.dtype, where
        np.testing.assert_array_equal(read, written, err_msg=where)
        assert not read.flags.writeable, where
    elif isinstance(written, Mapping):
        assert isinstance(read, Mapping) and list(read) == list(written), where
        for key in written:
            _assert_same(read[key], written[key], f"{where}[{key!r}]")
    elif isinstance(written, tuple):
        assert isinstance(read, tuple) and len(read) == len(written), where
        for i, (a, b) in enumerate(zip(read, written, strict=True)):
            _assert_same(a, b, f"{where}[{i}]")
    elif isinstance(written, float) and np.isnan(written):
        assert isinstance(read, float) and np.isnan(read), where
    else:
        assert read == written and type(read) is type(written), where
