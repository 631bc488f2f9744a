"""Keep a `Tally` out of the model's training step and hush its per-batch validation logs,
for the length of a `fit` (`EpochEvaluator` in tally mode)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import keras

from epoch_eval.callback.tally import Tally


def wrap_steps(model: keras.Model, tally: Tally) -> None:
    """Rebuild the model's step functions around the tally: the training step inside
    `tally.pause()` (unless it counts training) and the validation step inside `tally.hush()`.
    Traced once (TensorFlow, JAX) or run each time (torch), the training step then neither
    counts nor computes the tally, and the validation step only counts."""
    unwrapped = unwrap_steps(model)
    if not tally.count_training:
        _wrap_step(model, "train_step", tally.pause)
    if unwrapped or not tally.count_training:
        model.make_train_function(force=True)  # fit made it before calling back
    _wrap_step(model, "test_step", tally.hush)
    model.test_function = None  # evaluate() makes it again


def _wrap_step(model: keras.Model, name: str,
               context: Callable[[], AbstractContextManager[None]]) -> None:
    original = getattr(model, name)

    def step(*args: Any, **kwargs: Any) -> Any:
        with context():
            return original(*args, **kwargs)

    step.epoch_eval_wraps = original  # type: ignore[attr-defined]
    setattr(model, name, step)


def unwrap_steps(model: keras.Model) -> bool:
    """Undo `wrap_steps` (the next fit or evaluate makes its step functions again); return
    whether the training step was wrapped."""
    unwrapped = []
    for name, function in (("train_step", "train_function"), ("test_step", "test_function")):
        if getattr(vars(model).get(name), "epoch_eval_wraps", None) is not None:
            delattr(model, name)
            setattr(model, function, None)
            unwrapped.append(name)
    return "train_step" in unwrapped
