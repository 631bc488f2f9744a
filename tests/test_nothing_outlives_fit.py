"""Nothing of epoch_eval outlives its `fit`, however it ends (normally, raised, interrupted):
the tally's step wrappers, the drawing thread, the kept figures, an open event file.
Backend-neutral (TensorFlow, JAX, torch)."""

from __future__ import annotations

import gc
import threading
import time

import keras
import numpy as np
import pytest

from epoch_eval import EpochEvaluator, PngFolder, Tally, TensorBoardLogs
from epoch_eval.callback.tally import LOG_KEYS
from epoch_eval.sinks import rendering


def tally_model(seed: int = 0) -> tuple[keras.Model, Tally]:
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
    tally = Tally()
    model.compile("adam", "sparse_categorical_crossentropy", metrics=[tally])
    return model, tally


class Raise(keras.callbacks.Callback):
    """Raises `error` at the end of the first epoch: listed after the evaluator, so Keras never
    calls the evaluator's `on_train_end`."""

    def __init__(self, error: BaseException) -> None:
        super().__init__()
        self.error = error

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        raise self.error


ENDINGS = {
    "normally": None,
    "raised": RuntimeError("another callback failed"),
    "interrupted": KeyboardInterrupt(),
}


def fit_that_ends(model: keras.Model, callbacks: list, data, ending: str) -> None:
    x_train, y_train, x_val, y_val = data
    error = ENDINGS[ending]
    if error is None:
        model.fit(x_train, y_train, epochs=1, batch_size=64, verbose=0,
                  validation_data=(x_val, y_val), callbacks=callbacks)
        return
    with pytest.raises(type(error)):
        model.fit(x_train, y_train, epochs=2, batch_size=64, verbose=0,
                  validation_data=(x_val, y_val), callbacks=[*callbacks, Raise(error)])


@pytest.mark.parametrize("ending", list(ENDINGS))
def test_a_later_fit_sees_the_models_own_training_step(digits, ending):
    """The tally counts training batches again in a fit without the evaluator."""
    model, tally = tally_model()
    fit_that_ends(model, [EpochEvaluator(tally, sinks=[])], digits, ending)
    x_train, y_train, _, _ = digits
    train_batch_logs: list[dict] = []
    history = model.fit(x_train, y_train, epochs=1, batch_size=64, verbose=0, callbacks=[
        keras.callbacks.LambdaCallback(
            on_train_batch_end=lambda batch, logs: train_batch_logs.append(dict(logs)))])
    assert "train_step" not in vars(model) and "test_step" not in vars(model)
    assert 0 < history.history["f1"][-1] <= 1
    assert set(LOG_KEYS) <= set(train_batch_logs[-1])  # the training step computes them again


@pytest.mark.parametrize("ending", list(ENDINGS))
def test_a_later_evaluate_sees_the_models_own_test_step(digits, ending):
    """Outside fit, `evaluate` gets the tally's per-batch values (hushed to nan in fit)."""
    model, tally = tally_model()
    fit_that_ends(model, [EpochEvaluator(tally, sinks=[])], digits, ending)
    _, _, x_val, y_val = digits
    batch_logs: list[dict] = []
    model.evaluate(x_val, y_val, batch_size=64, verbose=0, callbacks=[
        keras.callbacks.LambdaCallback(
            on_test_batch_end=lambda batch, logs: batch_logs.append(dict(logs)))])
    assert "test_step" not in vars(model)
    assert 0 < float(batch_logs[-1]["f1"]) <= 1


def test_the_same_evaluator_wraps_again_in_its_next_fit(digits):
    """After an interrupted fit, the next fit with the evaluator keeps the tally out of the
    training step again, and its validation pass is counted."""
    model, tally = tally_model()
    evaluator = EpochEvaluator(tally, sinks=[])
    fit_that_ends(model, [evaluator], digits, "interrupted")
    x_train, y_train, x_val, y_val = digits
    history = model.fit(x_train, y_train, epochs=1, batch_size=64, verbose=0,
                        validation_data=(x_val, y_val), callbacks=[evaluator])
    assert "f1" not in history.history and 0 < history.history["val_f1"][-1] <= 1
    assert tally.counts().n_samples == len(y_val)
    assert "train_step" not in vars(model)


def figures_alive() -> list:
    from matplotlib.figure import Figure

    gc.collect()
    return [o for o in gc.get_objects() if isinstance(o, Figure)]


def chart_processes() -> list:
    """The chart processes this process started that still exist (a zombie counts)."""
    import psutil

    found = []
    for child in psutil.Process().children(recursive=True):
        try:
            if any("drawer_process" in part for part in child.cmdline()):
                found.append(child)
        except psutil.ZombieProcess:
            found.append(child)  # unreaped: a leak too
        except psutil.NoSuchProcess:
            pass
    return found


def threads_of_ours() -> list[threading.Thread]:
    """The drawing thread, and any thread a library we call starts (tensorboard's event file
    writer has one)."""
    return [t for t in threading.enumerate() if t.name == "epoch_eval-charts"
            or type(t).__module__.split(".")[0] in ("epoch_eval", "tensorboard")]


def other_threads(before: set[threading.Thread]) -> list[threading.Thread]:
    """Threads started since `before`, whoever started them."""
    return [t for t in threading.enumerate() if t not in before and t.is_alive()]


def test_no_thread_or_figure_is_left_when_fit_returns(digits, tmp_path):
    x_train, y_train, x_val, y_val = digits
    model, _ = tally_model()
    before = set(threading.enumerate())
    model.fit(x_train[:300], y_train[:300], epochs=3, verbose=0, callbacks=[EpochEvaluator(
        (x_val, y_val), sinks=[PngFolder(tmp_path / "png"), TensorBoardLogs(tmp_path / "tb")])])
    assert threads_of_ours() == []  # joined by on_train_end, not "soon after"
    assert chart_processes() == []  # ended and reaped with its thread
    assert figures_alive() == []
    assert [t.name for t in other_threads(before)] == []
    assert len(list((tmp_path / "png").glob("*.png"))) == 9


def test_an_interrupted_fit_frees_its_thread_and_figures_within_idle_seconds(digits, tmp_path,
                                                                            monkeypatch):
    monkeypatch.setattr(rendering, "IDLE_SECONDS", 0.5)
    x_train, y_train, x_val, y_val = digits
    model, _ = tally_model()
    evaluator = EpochEvaluator((x_val, y_val), sinks=[PngFolder(tmp_path / "png"),
                                                      TensorBoardLogs(tmp_path / "tb")])
    fit_that_ends(model, [evaluator], (x_train[:300], y_train[:300], x_val, y_val),
                  "interrupted")
    deadline = time.monotonic() + 60  # bounded wait on the condition, not a sleep
    while ((threads_of_ours() or chart_processes() or figures_alive())
           and time.monotonic() < deadline):
        time.sleep(0.05)
    assert threads_of_ours() == []
    assert chart_processes() == []
    assert figures_alive() == []
    # (Keras' own callback executor threads on JAX and torch outlive an interrupted fit: not
    # ours, so not counted)
    assert len(list((tmp_path / "png").glob("*.png"))) == 3  # the epoch it handed over
    assert np.isfinite(evaluator.evaluate_now().f1)
