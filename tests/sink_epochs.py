"""Hand-made epochs of every task for the file sinks' tests (no Keras)."""

from __future__ import annotations

import dataclasses

import numpy as np
from chart_evaluations import (
    binary,
    multiclass,
    multiclass_with_absent_class,
    multilabel,
    undefined,
)

from epoch_eval import Evaluation
from epoch_eval.sinks.base import EpochResult

TASKS = {
    "binary": lambda epoch: binary(seed=epoch),
    "multiclass": lambda epoch: multiclass(4, n=300, seed=epoch),
    "multilabel": lambda epoch: multilabel(3, n=300, seed=epoch),
    "absent_class": lambda epoch: multiclass_with_absent_class(),
    "undefined": lambda epoch: undefined(),
}


def epochs(task: str, count: int = 3) -> list[EpochResult]:
    """`count` epochs (1-based) of `task`, each from its own seed."""
    return [EpochResult(epoch, TASKS[task](epoch), {}) for epoch in range(1, count + 1)]


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
    elif isinstance(written, tuple):
        assert isinstance(read, tuple) and len(read) == len(written), where
        for i, (a, b) in enumerate(zip(read, written, strict=True)):
            _assert_same(a, b, f"{where}[{i}]")
    elif isinstance(written, float) and np.isnan(written):
        assert isinstance(read, float) and np.isnan(read), where
    else:
        assert read == written and type(read) is type(written), where
