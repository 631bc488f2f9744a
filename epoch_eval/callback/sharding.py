"""Split validation rows between the processes of a multi-process `fit` (JAX's
`keras.distribution`): `share_bounds` for the evaluator's own split, `shard` for fit's
validation pass (tally mode)."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from epoch_eval.callback import distribution


def share_bounds(n_rows: int, count: int, index: int) -> tuple[int, int]:
    """The rows `[start, stop)` of process `index` out of `count`: contiguous, in order, sizes
    differing by at most one (the later processes get the extra rows)."""
    return index * n_rows // count, (index + 1) * n_rows // count


def shard(x: Any, y: Any, sample_weight: Any = None, *, batch_size: int = 32,
          process_count: int | None = None, process_index: int | None = None,
          local_devices: int | None = None) -> tuple[Any, Any, np.ndarray]:
    """This process' share of validation arrays, ready for fit's validation pass when several
    processes train together.

    The rows are split in order into contiguous shares of nearly equal size, then every share
    is padded to one length, the smallest multiple of `batch_size` that holds the largest:
    every process then runs the same number of full validation batches, as Keras'
    `DataParallel` needs (each batch must split evenly over the local devices, and a process
    with one batch fewer leaves the others waiting). Padding rows repeat the share's last row
    (the data's first, for an empty share) with a sample weight of 0, so a `Tally` compiled in
    `weighted_metrics=` (and Keras' weighted loss) counts every real row exactly once.

    Args:
        x: the inputs: an array, or a list or dict of arrays (multi-input models).
        y: the labels: an array, or a list or dict of arrays (multi-output models).
        sample_weight: one weight per row, or None (every real row then weighs 1).
        batch_size: the validation batch of each process: pass the same number to fit's
            `validation_batch_size=`; it must divide evenly over the local devices.
        process_count, process_index, local_devices: default to this process' (JAX's
            `process_count()`, `process_index()`, `local_device_count()`; 1, 0, 1 on other
            backends).

    Returns:
        `(x, y, sample_weight)` of this process: arrays of the same structure, each with the
        same number of rows in every process; the weights are float32.

    Raises:
        ValueError: for no rows, arrays of different lengths, weights that are not one finite,
            non-negative number per row, or a batch size, process count or index that cannot
            work.
    """
    count = distribution.process_count() if process_count is None else process_count
    index = distribution.process_index() if process_index is None else process_index
    devices = distribution.local_device_count() if local_devices is None else local_devices
    _check_positive(batch_size=batch_size, process_count=count, local_devices=devices)
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < count:
        raise ValueError(f"`process_index` must be an integer in [0, {count}). "
                         f"Received: process_index={index!r}")
    if batch_size % devices:
        raise ValueError(
            f"`batch_size={batch_size}` does not split evenly over the {devices} local devices: "
            "Keras' DataParallel gives each device an equal part of every batch. Pass a "
            f"multiple of {devices}.")
    n_rows = _rows(x=x, y=y, sample_weight=sample_weight)
    weight = _weights(sample_weight, n_rows)
    start, stop = share_bounds(n_rows, count, index)
    largest = -(-n_rows // count)
    length = -(-largest // batch_size) * batch_size
    rows = np.arange(start, stop)
    filler = stop - 1 if stop > start else 0
    rows = np.concatenate([rows, np.full(length - len(rows), filler)])
    share_weight = np.where(np.arange(length) < stop - start, weight[rows], 0.0)

    def take(array: Any) -> Any:
        return np.asarray(array)[rows]

    return (keras.tree.map_structure(take, x), keras.tree.map_structure(take, y),
            share_weight.astype(np.float32))


def _check_positive(**values: Any) -> None:
    for name, value in values.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"`{name}` must be a positive integer. Received: {name}={value!r}")


def _rows(**structures: Any) -> int:
    """The common number of rows of every array given; refuse none, or different ones."""
    sizes: dict[str, list[int]] = {}
    for name, structure in structures.items():
        if structure is None:
            continue
        for array in keras.tree.flatten(structure):
            if np.ndim(array) == 0:
                raise ValueError(f"`{name}` must hold arrays with one row per sample. "
                                 f"Received a scalar: {array!r}")
            sizes.setdefault(name, []).append(int(np.shape(array)[0]))
    if "x" not in sizes or "y" not in sizes:
        raise ValueError("shard() needs the inputs `x` and the labels `y` as arrays.")
    distinct = {size for rows in sizes.values() for size in rows}
    if len(distinct) > 1:
        raise ValueError(f"The arrays given to shard() must all have the same number of rows. "
                         f"Received rows: {sizes}")
    n_rows = distinct.pop()
    if n_rows == 0:
        raise ValueError("shard() got arrays of 0 rows: there is nothing to validate on.")
    return n_rows


def _weights(sample_weight: Any, n_rows: int) -> np.ndarray:
    if sample_weight is None:
        return np.ones(n_rows)
    weight = np.asarray(sample_weight)
    if weight.dtype.kind not in "biuf":
        raise ValueError(f"`sample_weight` must be numbers. Received dtype {weight.dtype}")
    weight = weight.astype(np.float64)
    if weight.shape != (n_rows,):
        raise ValueError(f"`sample_weight` must be one number per row, of shape ({n_rows},). "
                         f"Received shape {weight.shape}")
    if not np.all(np.isfinite(weight)) or np.any(weight < 0):
        raise ValueError("`sample_weight` must be finite and non-negative: "
                         f"{int(np.sum(~np.isfinite(weight) | (weight < 0)))} are not.")
    return weight

