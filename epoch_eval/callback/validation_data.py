"""Turn whatever a user passes as validation data into fresh, single-pass iterations of batches.

Each batch is `(x, y, sample_weight)`, with `y` and `sample_weight` as NumPy arrays and `x` left
as the model takes it. Labels always travel with their inputs: nothing here iterates a dataset
twice, so a dataset that reshuffles on every iteration still pairs the right rows.
"""

from __future__ import annotations

import inspect
import itertools
from collections.abc import Callable, Generator, Iterable, Iterator
from typing import Any

import keras
import numpy as np

# Keras' own data adapters turn arrays, tf.data, PyDataset, torch DataLoader and Grain datasets
# into NumPy batches. They are private API, so this module is the only place that touches them.
from keras.src.trainers.data_adapters import (
    get_data_adapter,
    is_grain_dataset,
    is_tf_dataset,
    is_torch_dataloader,
)
from keras.src.trainers.data_adapters.data_adapter import DataAdapter

from epoch_eval.callback.sharding import share_bounds

Batch = tuple[Any, Any, Any]
"""`(x, y, sample_weight)`: `y` and `sample_weight` NumPy arrays, or structures of them for a
multi-output model; `sample_weight` may be None."""

ACCEPTED = ("an `(x, y)` or `(x, y, sample_weight)` tuple of arrays, a `tf.data.Dataset`, "
            "a `keras.utils.PyDataset`, a `torch.utils.data.DataLoader`, a Grain dataset, "
            "or a zero-argument callable returning a fresh "
            "iterable of `(x, y[, sample_weight])` batches")


PREDICT_BATCH_BYTES = 4 * 2**20
"""The input bytes of one default prediction batch for array data (see `default_batch_size`)."""
MIN_PREDICT_BATCH, MAX_PREDICT_BATCH = 32, 1024


def default_batch_size(x: Any) -> int:
    """The default prediction batch for array inputs `x`: as many rows as fit in
    `PREDICT_BATCH_BYTES` (4 MiB) of input, at least 32 (Keras' default) and at most 1024.

    One pass over the validation set per epoch costs a Python round trip per batch: on a small
    model that is most of its time (digits, 360 rows: ~7 ms at 32 rows, ~1 ms at 1024). The
    bound keeps the batch's inputs, and so roughly its activations, small: 64 float32 features
    give 1024 rows, a 224x224x3 float32 image 32.
    """
    row_bytes = sum(int(np.prod(np.shape(a)[1:], dtype=np.int64)) * _item_bytes(a)
                    for a in keras.tree.flatten(x) if np.ndim(a))
    rows = PREDICT_BATCH_BYTES // max(row_bytes, 1)
    return int(min(max(rows, MIN_PREDICT_BATCH), MAX_PREDICT_BATCH))


def _item_bytes(array: Any) -> int:
    """Bytes per element of an array-like (8 when its first row cannot be read as NumPy)."""
    try:
        return int(np.asarray(array[:1]).itemsize)
    except Exception:
        return 8


class ValidationData:
    """Validation data that can be iterated once per evaluation, in a single pass.

    Args:
        data: see `ACCEPTED`.
        batch_size: rows per batch for array data; default `default_batch_size(x)`:
            as many rows as fit in `PREDICT_BATCH_BYTES` of input, between 32 and 1024.
        steps: number of batches per evaluation; required for an infinite dataset.

    Raises:
        ValueError: for a single-use generator, an infinite dataset without `steps`, arrays of
            different lengths, or anything of another kind.
    """

    def __init__(self, data: Any, *, batch_size: int | None = None, steps: int | None = None):
        if batch_size is not None and (not isinstance(batch_size, int) or batch_size < 1):
            raise ValueError(f"`batch_size` must be a positive integer or None. "
                             f"Received: batch_size={batch_size!r}")
        if steps is not None and (not isinstance(steps, int) or steps < 1):
            raise ValueError(f"`steps` must be a positive integer or None. "
                             f"Received: steps={steps!r}")
        self.batch_size = batch_size
        self.steps = steps
        self._factory: Callable[[], Any] | None = None
        if _is_single_use(data):
            raise ValueError(
                f"`validation_data` is a single-use {type(data).__name__}: it would be exhausted "
                "after the first evaluation. Pass a zero-argument callable that returns a fresh "
                "one instead, e.g. `validation_data=lambda: make_batches()`.")
        self._adapter: DataAdapter | None = _adapter(data, batch_size)
        self._arrays: tuple | None = None
        # Keras' adapter casts float64 weights to float32: array batches get the caller's own.
        self._array_weight: Any = None
        if self._adapter is not None and isinstance(data, tuple):
            self.kind = "arrays"
            self._arrays = data
            if len(data) == 3 and data[2] is not None:
                self._array_weight = keras.tree.map_structure(_float_weights, data[2])
        elif self._adapter is not None:
            self.kind = _dataset_kind(data) or "dataset"
            if self._adapter.num_batches is None and steps is None and _is_infinite(data):
                raise ValueError(
                    f"`validation_data` is an infinite {self.kind}, so an evaluation would never "
                    "end. Pass `steps=` (the number of batches to evaluate), or a finite "
                    "dataset (drop `.repeat()`).")
        elif callable(data) and not inspect.isclass(data):
            self.kind = "callable"
            self._factory = data
        else:
            raise ValueError(f"`validation_data` must be {ACCEPTED}. "
                             f"Received: {type(data).__name__}")

    def batches(self) -> Generator[Batch, None, None]:
        """A fresh pass over the data: `(x, y, sample_weight)` batches.

        Close the iterator (or exhaust it) to end the pass: a `PyDataset`'s worker queue is
        then stopped and its `on_epoch_end` called, as after a Keras epoch.
        """
        adapter, plain = self._adapter, None
        if self._factory is not None:
            fresh = self._factory()
            adapter = _adapter(fresh, self.batch_size)
            if adapter is None:
                plain = _plain_batches(fresh)
        if adapter is not None:
            adapter.on_epoch_begin()
            batches: Iterable[Any] = adapter.get_numpy_iterator()
        else:
            assert plain is not None
            batches = plain
        try:
            if self.steps is not None:
                batches = itertools.islice(batches, self.steps)
            start = 0
            for batch in batches:
                x, y, weight = _unpack(batch)
                if self._array_weight is not None:
                    rows = slice(start, start + _rows(y))
                    weight = keras.tree.map_structure(lambda w, rows=rows: w[rows],
                                                      self._array_weight)
                    start = rows.stop
                yield x, y, weight
        finally:
            if adapter is not None:
                adapter.on_epoch_end()

    @property
    def rows(self) -> int | None:
        """The number of rows of array data (None for other kinds)."""
        return None if self._arrays is None else _rows(self._arrays[1])

    def part(self, count: int, index: int) -> ValidationData | BatchesOfProcess:
        """Process `index`'s part of the data, out of `count` processes that each hold all of it.

        Arrays (without `steps`): its contiguous rows (`share_bounds`), in batches of the
        size the whole set gets. Other kinds: every `count`-th batch from the `index`-th (each
        process still reads every batch, and predicts only its own).
        """
        if self._arrays is None or self.steps is not None:
            return BatchesOfProcess(self, count, index)
        start, stop = share_bounds(_rows(self._arrays[1]), count, index)
        rows = slice(start, stop)
        sliced = tuple(None if part is None else
                       keras.tree.map_structure(lambda a, rows=rows: a[rows], part)
                       for part in self._arrays)
        return ValidationData(sliced, batch_size=self.batch_size
                              or default_batch_size(self._arrays[0]))


class BatchesOfProcess:
    """Every `count`-th batch of validation data, from the `index`-th: one process' part."""

    def __init__(self, data: ValidationData, count: int, index: int) -> None:
        self.data, self.count, self.index = data, count, index

    def batches(self) -> Iterator[Batch]:
        """This process' batches of a fresh pass over the data."""
        everyone = self.data.batches()
        try:
            for number, batch in enumerate(everyone):
                if number % self.count == self.index:
                    yield batch
        finally:
            everyone.close()



def _adapter(data: Any, batch_size: int | None) -> DataAdapter | None:
    """Keras' adapter for an array tuple or a dataset `fit` accepts; None otherwise."""
    if isinstance(data, tuple) and len(data) in (2, 3):
        return _array_adapter(data, batch_size)
    if _dataset_kind(data) is not None:
        return get_data_adapter(data, shuffle=False)
    return None


def _dataset_kind(data: Any) -> str | None:
    """The name of a dataset type Keras' `fit` takes (besides arrays and generators), or None."""
    if is_tf_dataset(data):
        return "tf.data.Dataset"
    if isinstance(data, keras.utils.PyDataset):
        return "PyDataset"
    if is_torch_dataloader(data):
        return "torch DataLoader"
    if is_grain_dataset(data):
        return "Grain dataset"
    return None


def _plain_batches(fresh: Any) -> Iterable[Any]:
    """What the user's callable returned, when it is a plain iterable of batches."""
    if isinstance(fresh, Iterable) and not isinstance(fresh, (str, bytes, dict)):
        return fresh
    raise ValueError("The `validation_data` callable must return an iterable of "
                     f"`(x, y[, sample_weight])` batches. It returned: {type(fresh).__name__}")


def _array_adapter(data: tuple, batch_size: int | None):
    x, y, *rest = data
    weight = rest[0] if rest else None
    if y is None:
        raise ValueError("`validation_data` needs labels: pass `(x, y)` or "
                         "`(x, y, sample_weight)`. Received y=None")
    for labels in keras.tree.flatten(y):
        dtype = np.asarray(labels).dtype
        if not is_numeric_dtype(dtype):
            raise ValueError(
                "The labels `y` of `validation_data` must be numbers: class indices, one-hot "
                f"or multi-hot rows. Received labels of dtype {dtype} (e.g. "
                f"{np.asarray(labels).reshape(-1)[:3].tolist()}); map class names to indices "
                "first.")
    sizes = {name: [int(np.shape(a)[0]) for a in keras.tree.flatten(value) if np.ndim(a)]
             for name, value in (("x", x), ("y", y), ("sample_weight", weight))
             if value is not None}
    if len({size for rows in sizes.values() for size in rows}) > 1:
        raise ValueError(f"The arrays of `validation_data` must all have the same number of "
                         f"rows. Received rows: {sizes}")
    return get_data_adapter(x, y, sample_weight=weight,
                            batch_size=batch_size or default_batch_size(x), shuffle=False)


def is_numeric_dtype(dtype: np.dtype) -> bool:
    """Whether labels or weights of this dtype are numbers (booleans included)."""
    return dtype.kind == "b" or (dtype.kind != "O" and np.issubdtype(dtype, np.number))


def _float_weights(weight: Any) -> np.ndarray:
    """The caller's weights in float64 (exact for any float), to slice batches from."""
    return np.asarray(weight, dtype=np.float64)


def _rows(y: Any) -> int:
    return int(np.shape(keras.tree.flatten(y)[0])[0])


def _unpack(batch: Any) -> Batch:
    if isinstance(batch, list):
        batch = tuple(batch)
    if not isinstance(batch, tuple) or len(batch) not in (2, 3):
        raise ValueError("Each validation batch must be `(x, y)` or `(x, y, sample_weight)`. "
                         f"Received a batch of type {type(batch).__name__}"
                         + (f" with {len(batch)} elements" if isinstance(batch, tuple) else ""))
    x, y, weight = keras.utils.unpack_x_y_sample_weight(batch)
    if y is None:
        raise ValueError("A validation batch has no labels (y is None). Each batch must be "
                         "`(x, y)` or `(x, y, sample_weight)`.")
    y = keras.tree.map_structure(keras.ops.convert_to_numpy, y)
    if weight is not None:  # one array, or one per output
        weight = keras.tree.map_structure(keras.ops.convert_to_numpy, weight)
    return x, y, weight


def _is_single_use(data: Any) -> bool:
    return inspect.isgenerator(data) or (isinstance(data, Iterator)
                                         and not is_tf_dataset(data))


def _is_infinite(data: Any) -> bool:
    if is_tf_dataset(data):
        import tensorflow as tf  # tf.data implies TensorFlow is there

        return int(data.cardinality()) == int(tf.data.INFINITE_CARDINALITY)
    # A PyDataset whose num_batches is None is endless; a DataLoader over an IterableDataset
    # or a Grain dataset may simply not know its length, so it is read to its end.
    return isinstance(data, keras.utils.PyDataset)
