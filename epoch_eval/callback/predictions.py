"""Predict on validation data and keep each batch's labels beside its predictions (one pass)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np

from epoch_eval.callback.validation_data import Batch, is_numeric_dtype

OutputKey = int | str | None


@dataclass(frozen=True)
class Predictions:
    """Labels, scores and weights of a whole validation pass, rows aligned."""

    y_true: np.ndarray
    y_score: np.ndarray
    sample_weight: np.ndarray | None

    def __len__(self) -> int:
        return len(self.y_true)


def output_names(model: keras.Model) -> list[str]:
    return list(getattr(model, "output_names", None) or [])


def check_output_key(model: keras.Model, output: OutputKey) -> None:
    """Refuse an `output=` that the model does not have, or its absence on a multi-output model.

    Raises:
        ValueError: naming the model's outputs.
    """
    outputs = getattr(model, "outputs", None)
    names = output_names(model)
    count = len(outputs) if outputs is not None else len(names)
    if output is None:
        if count > 1:
            raise ValueError(f"The model has {count} outputs {names}: pass `output=` (a name or "
                             "an index) to choose the one to evaluate.")
        return
    if isinstance(output, str):
        if names and output not in names:
            raise ValueError(f"`output={output!r}` is not an output of the model. "
                             f"Available outputs: {names}")
    elif isinstance(output, int) and not isinstance(output, bool):
        if count and not -count <= output < count:
            raise ValueError(f"`output={output}` is out of range: the model has {count} "
                             f"output(s) {names}")
    else:
        raise ValueError(f"`output` must be an output name, an index or None. "
                         f"Received: output={output!r}")


def select_output(values: Any, output: OutputKey, names: list[str]) -> Any:
    """Pick one output from a model's (or a label set's) list, tuple or dict of outputs."""
    if output is None or not isinstance(values, (list, tuple, dict)):
        return values
    if isinstance(values, dict):
        key = output if isinstance(output, str) else names[output]
        return values[key]
    index = names.index(output) if isinstance(output, str) else output
    return values[index]


def predict_batches(model: keras.Model, batches: Iterable[Batch], output: OutputKey,
                    *, distributed: bool) -> Predictions:
    """Run the model over `batches` once, keeping labels and weights in step with predictions.

    Outside a distribution strategy each batch goes through `predict_on_batch`, which is much
    cheaper per epoch than `predict`. Under a strategy with several replicas `predict_on_batch`
    returns one copy of the batch per replica, so the whole pass goes through `predict`, fed
    by a generator that records each batch's labels as it hands out its inputs.
    """
    names = output_names(model)
    labels: list[np.ndarray] = []
    weights: list[np.ndarray | None] = []

    def inputs() -> Iterator[Any]:
        for x, y, weight in batches:
            y, weight = _selected_labels(y, weight, output, names)
            labels.append(y)
            weights.append(weight)
            yield x

    if distributed:
        scores = [_to_numpy(select_output(
            model.predict(((x,) for x in inputs()), verbose=0), output, names))]
    else:
        scores = [_to_numpy(select_output(model.predict_on_batch(x), output, names))
                  for x in inputs()]
    if not labels:
        raise ValueError("The validation data yielded no batches: there is nothing to evaluate.")
    return Predictions(
        y_true=concatenate_labels(labels),
        y_score=np.concatenate(scores),
        sample_weight=_concatenate_weights(weights),
    )


def labels_only(model: keras.Model, batches: Iterable[Batch],
                output: OutputKey) -> tuple[np.ndarray, np.ndarray | None]:
    """The labels and weights of every batch, without predicting (to check them all)."""
    names = output_names(model)
    pairs = [_selected_labels(y, weight, output, names) for _, y, weight in batches]
    if not pairs:
        raise ValueError("The validation data yielded no batches: there is nothing to evaluate.")
    return (concatenate_labels([y for y, _ in pairs]),
            _concatenate_weights([weight for _, weight in pairs]))


def _selected_labels(y: Any, weight: Any, output: OutputKey,
                     names: list[str]) -> tuple[np.ndarray, np.ndarray | None]:
    y = np.asarray(select_output(y, output, names))
    if weight is not None:
        weight = np.asarray(select_output(weight, output, names))
    return y, weight


def concatenate_labels(labels: list[np.ndarray]) -> np.ndarray:
    """Join the batches' labels, refusing labels that are not numbers or whose shape changes
    from batch to batch, with the batch, its labels' shape and what was expected.

    Raises:
        ValueError: naming the first bad batch (0-based).
    """
    first = labels[0]
    for index, batch in enumerate(labels):
        if not is_numeric_dtype(batch.dtype):
            raise ValueError(
                f"The labels of validation batch {index} are not numbers: dtype {batch.dtype} "
                f"(e.g. {batch.reshape(-1)[:3].tolist()}). Expected class indices, one-hot or "
                "multi-hot rows; map class names to indices first.")
        if batch.ndim != first.ndim or batch.shape[1:] != first.shape[1:]:
            expected = "(rows" + "".join(f", {d}" for d in first.shape[1:]) + (
                ",)" if first.ndim == 1 else ")")
            raise ValueError(
                f"The labels of validation batch {index} have shape {batch.shape}, but those "
                f"of batch 0 have shape {first.shape}: every batch must carry labels of one "
                f"shape, {expected} here. Mixing sparse class indices and "
                "one-hot rows is not supported.")
    return np.concatenate(labels)


def _to_numpy(values: Any) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(values))


def _concatenate_weights(weights: list[np.ndarray | None]) -> np.ndarray | None:
    if all(w is None for w in weights):
        return None
    present = [np.reshape(w, -1) for w in weights if w is not None]
    if len(present) != len(weights):
        raise ValueError("Some validation batches carry sample weights and others do not.")
    return np.concatenate(present)
