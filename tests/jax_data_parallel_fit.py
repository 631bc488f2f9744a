"""Run by test_distributed.py in a fresh process with KERAS_BACKEND=jax: a fit under
`keras.distribution.DataParallel` over two host CPU devices (XLA_FLAGS must be set before JAX is
imported). Prints a JSON summary."""

from __future__ import annotations

import io
import json
import os
import sys

os.environ["KERAS_BACKEND"] = "jax"
os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                           + " --xla_force_host_platform_device_count=2").strip()

import keras
import numpy as np
from count_writes import CountWrites
from sklearn.datasets import load_digits
from sklearn.metrics import confusion_matrix, f1_score

from epoch_eval import EpochEvaluator, HistoryLogs, PngFolder, Stdout, Tally


def main(output: str) -> None:
    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype("float32")
    # 597 validation rows in batches of 64: the last batch (21 rows) does not split in two.
    x_train, y_train, x_val, y_val = x[:1200], y[:1200], x[1200:], y[1200:]
    devices = keras.distribution.list_devices("cpu")
    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    printed = io.StringIO()
    writes = CountWrites()
    evaluator = EpochEvaluator((x_val, y_val), batch_size=64,
                               sinks=[HistoryLogs(), PngFolder(output), Stdout(printed), writes])
    history = model.fit(x_train, y_train, epochs=2, batch_size=64, verbose=0,
                        callbacks=[evaluator])
    result = evaluator.evaluate_now()
    predicted = model.predict_on_batch(x_val).argmax(axis=1)
    print(json.dumps({
        "backend": keras.backend.backend(),
        # the devices each weight lives on: both, if DataParallel really took effect
        "replicas": min(len(w.value.sharding.device_set) for w in model.weights),
        "val_f1": history.history["val_f1"],
        "n_samples": result.n_samples,
        "n_val": len(y_val),
        "f1": result.f1,
        "sklearn_f1": f1_score(y_val, predicted, average="macro"),
        "files": sorted(os.listdir(output)),
        "printed_lines": printed.getvalue().count("epoch_eval epoch"),
        "written_epochs": writes.epochs,
        "tally": tally_mode(x, y),
    }))


def tally_mode(x, y) -> dict:
    """The same model in tally mode: fit's own validation pass, sharded over both devices
    (whose batches must split evenly: 18 training batches of 64, 600 validation rows)."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
    tally = Tally()
    model.compile("adam", "sparse_categorical_crossentropy", metrics=[tally])
    x_val, y_val = x[1152:1752], y[1152:1752]
    history = model.fit(x[:1152], y[:1152], epochs=2, batch_size=64, verbose=0,
                        validation_data=(x_val, y_val), validation_batch_size=64,
                        callbacks=[EpochEvaluator(tally, sinks=[HistoryLogs()])])
    predicted = model.predict(x_val, verbose=0).argmax(axis=1)
    counts = tally.counts()
    return {
        "val_f1": history.history["val_f1"][-1],
        "sklearn_f1": f1_score(y_val, predicted, average="macro"),
        "n_samples": counts.n_samples,
        "n_val": len(y_val),
        "confusion_equal": bool(np.array_equal(
            counts.confusion_matrix, confusion_matrix(y_val, predicted, labels=range(10)))),
        "training_keys": sorted(key for key in history.history if not key.startswith("val_")),
    }


if __name__ == "__main__":
    main(sys.argv[1])
