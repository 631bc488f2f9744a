"""What the evaluator needs to know about distributed training, for each Keras backend."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import keras
import numpy as np


def replica_count(model: keras.Model) -> int:
    """How many replicas a TensorFlow distribution strategy runs the model on (1 otherwise).

    Under `keras.distribution` (JAX's `DataParallel`) `predict_on_batch` takes each batch whole
    (replicated on this process' devices, whatever its size) and returns one prediction per
    row, so the evaluator treats it as a single replica.
    """
    if keras.backend.backend() != "tensorflow":
        return 1
    strategy = getattr(model, "distribute_strategy", None)
    return int(getattr(strategy, "num_replicas_in_sync", 1)) if strategy is not None else 1


def is_chief(model: keras.Model) -> bool:
    """Whether this process is the one that writes files and prints (the chief worker)."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        strategy = getattr(model, "distribute_strategy", None)
        extended = getattr(strategy, "extended", None)
        return bool(getattr(extended, "should_checkpoint", True))
    if backend == "jax":
        import jax

        return jax.process_index() == 0
    if backend == "torch":
        import torch.distributed as dist

        return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0
    return True


# -- several processes (JAX's multi-process `keras.distribution`) --------------------------------
# TensorFlow's multi-worker strategy cannot run Keras 3's `fit` (keras-team/keras#20585) and Keras
# has no multi-process `fit` on torch, so several processes means JAX; elsewhere there is one.


def process_count() -> int:
    """How many processes train together (JAX's `process_count()`; 1 on other backends)."""
    if keras.backend.backend() != "jax":
        return 1
    import jax

    return int(jax.process_count())


def process_index() -> int:
    """This process' index among `process_count()` (0 on other backends)."""
    if keras.backend.backend() != "jax":
        return 0
    import jax

    return int(jax.process_index())


def local_device_count() -> int:
    """The devices of this process that `DataParallel` splits each local batch over (JAX;
    1 on other backends, whose strategies split uneven batches themselves)."""
    if keras.backend.backend() != "jax":
        return 1
    import jax

    return int(jax.local_device_count())


class OtherProcessFailed(ValueError):
    """Raised in every process when another process could not bring its rows to a gather."""


def gather_rows(arrays: Sequence[np.ndarray] | None) -> list[np.ndarray]:
    """Every process' rows of `arrays`, process 0's first: a collective call, so every process
    must make it, the same number of times.

    Each process may hold a different number of rows (0 included): the rows are padded to the
    longest share, gathered, then trimmed. They travel as raw bytes, so every dtype comes back
    bit for bit (JAX would otherwise turn float64 into float32). A process that failed before
    the gather passes None: the gather still takes place, and every process raises.

    Raises:
        OtherProcessFailed: a process passed None, or the processes' arrays differ in dtype or
            row shape.
    """
    from jax.experimental import multihost_utils

    local = list(arrays) if arrays is not None else []
    rows = int(local[0].shape[0]) if local else 0
    packed, layout = _pack(local, rows)
    header = np.array([rows, packed.shape[1], arrays is None, _fingerprint(layout)], np.int64)
    headers = np.asarray(multihost_utils.process_allgather(header.view(np.int32)))
    headers = headers.reshape(len(headers), -1).view(np.int64)
    failed = [int(p) for p in np.flatnonzero(headers[:, 2])]
    if failed:
        raise OtherProcessFailed(f"epoch_eval: process(es) {failed} of {len(headers)} could not "
                                 "read or predict their validation rows (see their own error).")
    if len(set(headers[:, 3].tolist())) > 1:
        raise OtherProcessFailed(
            "epoch_eval: the processes' validation data differ in dtype or row shape "
            f"(labels, scores, weights); this process has {layout}. Give every process data "
            "of one kind: with sample weights in all of them or in none.")
    longest = int(headers[:, 0].max())
    padded = np.zeros((longest, packed.shape[1]), np.uint8)
    padded[:rows] = packed
    everyone = np.asarray(multihost_utils.process_allgather(padded))
    joined = np.concatenate([everyone[p, :count] for p, count in enumerate(headers[:, 0])])
    return _unpack(joined, layout)


Layout = tuple[tuple[str, tuple[int, ...]], ...]


def _pack(arrays: list[np.ndarray], rows: int) -> tuple[np.ndarray, Layout]:
    """The arrays side by side as one `(rows, bytes)` uint8 matrix, and how to undo it."""
    columns = [np.ascontiguousarray(a).reshape(rows, -1).view(np.uint8) for a in arrays]
    layout = tuple((a.dtype.str, tuple(a.shape[1:])) for a in arrays)
    return (np.concatenate(columns, axis=1) if columns else np.zeros((rows, 0), np.uint8),
            layout)


def _unpack(packed: np.ndarray, layout: Layout) -> list[np.ndarray]:
    arrays, start = [], 0
    for dtype_str, shape in layout:
        dtype = np.dtype(dtype_str)
        width = dtype.itemsize * int(np.prod(shape, dtype=np.int64))
        block = np.ascontiguousarray(packed[:, start:start + width])
        arrays.append(block.view(dtype).reshape(len(packed), *shape))
        start += width
    return arrays


def _fingerprint(layout: Layout) -> int:
    """A number equal in two processes whose arrays have the same dtypes and row shapes."""
    return int.from_bytes(hashlib.sha256(repr(layout).encode()).digest()[:7], "little")
