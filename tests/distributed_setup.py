"""What the distributed fit scripts (run in fresh processes by test_distributed.py and
test_tally_distributed.py) share: the digits split and the small model they train."""

from __future__ import annotations

import io
import os
from collections.abc import Callable

import keras
import numpy as np
from count_writes import CountWrites
from sklearn.datasets import load_digits
from sklearn.metrics import f1_score

from epoch_eval import EpochEvaluator, HistoryLogs, PngFolder, Stdout


def digits_split(train_rows: int = 1200, val_rows: int | None = None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """scikit-learn's digits as `(x_train, y_train, x_val, y_val)`: the first `train_rows`
    rows, then `val_rows` rows (default: all the others)."""
    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype("float32")
    end = None if val_rows is None else train_rows + val_rows
    return x[:train_rows], y[:train_rows], x[train_rows:end], y[train_rows:end]


def small_model() -> keras.Model:
    """The seeded 64-16-10 softmax MLP every script trains."""
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((64,)), keras.layers.Dense(16, activation="relu"),
                             keras.layers.Dense(10, activation="softmax")])


def fit_in_predict_mode(model: keras.Model, output: str,
                        predict: Callable[[np.ndarray], np.ndarray]) -> dict:
    """Fit `model` (compiled) for two epochs under an evaluator in predict mode with every
    kind of sink; return what test_distributed.py checks. `predict` gives the scores that
    scikit-learn's F1 is computed from after the fit."""
    x_train, y_train, x_val, y_val = digits_split()
    printed = io.StringIO()
    writes = CountWrites()
    evaluator = EpochEvaluator((x_val, y_val), batch_size=64,
                               sinks=[HistoryLogs(), PngFolder(output), Stdout(printed), writes])
    history = model.fit(x_train, y_train, epochs=2, batch_size=64, verbose=0,
                        callbacks=[evaluator])
    result = evaluator.evaluate_now()
    predicted = predict(x_val).argmax(axis=1)
    return {
        "val_f1": history.history["val_f1"],
        "n_samples": result.n_samples,
        "n_val": len(y_val),
        "f1": result.f1,
        "sklearn_f1": f1_score(y_val, predicted, average="macro"),
        "files": sorted(os.listdir(output)),
        "printed_lines": printed.getvalue().count("epoch_eval epoch"),
        "written_epochs": writes.epochs,
    }
