"""`Evaluation` to and from plain JSON values, field by field, so new fields round-trip.

Dataclasses become objects tagged with their class name, arrays become `{"dtype", "data"}`,
and non-finite floats become the strings `"nan"`, `"inf"`, `"-inf"` (strict JSON has no NaN);
they read back as floats where the field's type says float (`float`, `float | None`, the
`(low, high)` pairs of `intervals`). Mappings read back as dicts, tuples and lists as tuples.
A field added later with a default reads back from older files as its default.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from epoch_eval.metrics.result import (
    Evaluation,
    PerClassMetrics,
    PrecisionRecallCurve,
    RocCurve,
    frozen_array,
)

_CLASSES: dict[str, type] = {
    cls.__name__: cls for cls in (Evaluation, PerClassMetrics, PrecisionRecallCurve, RocCurve)
}
_TYPE_KEY = "__type__"


def to_json_value(value: Any) -> Any:
    """`value` (an `Evaluation`, or any part of it) as JSON-ready Python values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        encoded = {_TYPE_KEY: type(value).__name__}
        for item in dataclasses.fields(value):
            encoded[item.name] = to_json_value(getattr(value, item.name))
        return encoded
    if isinstance(value, np.ndarray):
        return {"dtype": value.dtype.str, "data": _finite_or_text(value.tolist())}
    if isinstance(value, (tuple, list)):
        return [to_json_value(item) for item in value]
    if isinstance(value, Mapping):
        return {str(key): to_json_value(item) for key, item in value.items()}
    if isinstance(value, np.generic):
        value = value.item()
    return _finite_or_text(value)


def from_json_value(value: Any) -> Any:
    """The inverse of `to_json_value`: dataclasses and read-only arrays rebuilt.

    Raises:
        ValueError: for an object tagged with an unknown class or missing a required field.
    """
    if isinstance(value, list):
        return tuple(from_json_value(item) for item in value)
    if not isinstance(value, dict):
        return value
    if _TYPE_KEY not in value:
        if set(value) == {"dtype", "data"}:
            return frozen_array(np.array(value["data"], dtype=np.dtype(value["dtype"])))
        return {key: from_json_value(item) for key, item in value.items()}
    cls = _CLASSES.get(value[_TYPE_KEY])
    if cls is None:
        raise ValueError(f"Unknown record type {value[_TYPE_KEY]!r}; expected one of "
                         f"{sorted(_CLASSES)}.")
    kwargs = {}
    for item in dataclasses.fields(cls):
        if item.name not in value:
            continue  # a field newer than the file: its default applies
        kwargs[item.name] = _restore_floats(from_json_value(value[item.name]), str(item.type))
    try:
        return cls(**kwargs)
    except TypeError as error:
        raise ValueError(f"Incomplete {cls.__name__} record: {error}") from None


def _restore_floats(value: Any, annotation: str) -> Any:
    """Text that stood for nan or inf back to float, where the field's annotation says float."""
    kinds = set(annotation.replace(" ", "").split("|"))
    if isinstance(value, str) and "float" in kinds:
        return float(value)
    compact = annotation.replace(" ", "")
    if isinstance(value, dict) and compact.startswith("Mapping[str,tuple[float,float]]"):
        return {key: tuple(float(item) for item in pair) for key, pair in value.items()}
    if isinstance(value, dict) and compact.startswith("Mapping[str,float]"):
        return {key: float(item) for key, item in value.items()}
    return value


def _finite_or_text(value: Any) -> Any:
    """Floats that are nan or infinite as text, recursively through lists."""
    if isinstance(value, list):
        return [_finite_or_text(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # "nan", "inf", "-inf": float() reads them back
    return value
