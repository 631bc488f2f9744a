"""Keep a `Tally` out of the model's training step and hush its per-batch validation logs,
for the length of a `fit` (`EpochEvaluator` in tally mode).

The wrapped steps never outlive their `fit`: the evaluator undoes them in `on_train_end`, and
where Keras skips that hook (`fit` raised or was interrupted), the model undoes them itself
the next time it builds a step function outside that `fit`: at the start of any later `fit`
(`make_train_function`), or of an `evaluate` that no `fit` of the model is running
(`make_test_function`).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import keras

from epoch_eval.callback.tally import Tally

_STEPS = (("train_step", "train_function"), ("test_step", "test_function"))
_BUILDERS = ("make_train_function", "make_test_function")


def wrap_steps(model: keras.Model, tally: Tally) -> None:
    """Rebuild the model's step functions around the tally: the training step inside
    `tally.pause()` (unless it counts training) and the validation step inside `tally.hush()`.
    Traced once (TensorFlow, JAX) or run each time (torch), the training step then neither
    counts nor computes the tally, and the validation step only counts."""
    unwrapped = unwrap_steps(model)
    if not tally.count_training:
        _wrap_step(model, "train_step", tally.pause)
    if unwrapped or not tally.count_training:
        type(model).make_train_function(model, force=True)  # fit made it before calling back
    _wrap_step(model, "test_step", tally.hush)
    model.test_function = None  # evaluate() makes it again
    _guard_builders(model, tally)


def unwrap_steps(model: keras.Model) -> bool:
    """Undo `wrap_steps` (the next fit or evaluate makes its step functions again); return
    whether the training step was wrapped."""
    for name in _BUILDERS:
        if getattr(vars(model).get(name), "epoch_eval_guards", False):
            delattr(model, name)
    unwrapped = []
    for name, function in _STEPS:
        if getattr(vars(model).get(name), "epoch_eval_wraps", None) is not None:
            delattr(model, name)
            setattr(model, function, None)
            unwrapped.append(name)
    return "train_step" in unwrapped


def _wrap_step(model: keras.Model, name: str,
               context: Callable[[], AbstractContextManager[None]]) -> None:
    original = getattr(model, name)

    def step(*args: Any, **kwargs: Any) -> Any:
        with context():
            return original(*args, **kwargs)

    step.epoch_eval_wraps = original  # type: ignore[attr-defined]
    setattr(model, name, step)


def _guard_builders(model: keras.Model, tally: Tally) -> None:
    """Have the model undo the wrapping when it builds a step function for another run: any
    later `fit` builds its training function first (before its callbacks begin), and a
    standalone `evaluate` its test function with no `fit` of the model on the call stack."""
    for name in _BUILDERS:
        build = getattr(type(model), name)

        def guarded(force: bool = False, *, _build: Any = build, _name: str = name) -> Any:
            if _name == "make_train_function" or not _running_fit(model):
                unwrap_steps(model)
                tally.skipping_training_pass = False
            return _build(model, force=force)

        guarded.epoch_eval_guards = True  # type: ignore[attr-defined]
        setattr(model, name, guarded)


def _running_fit(model: keras.Model) -> bool:
    """Whether a `fit` of `model` is on this thread's call stack (fit's validation pass)."""
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_name == "fit" and frame.f_locals.get("self") is model:
            return True
        frame = frame.f_back  # type: ignore[assignment]
    return False
