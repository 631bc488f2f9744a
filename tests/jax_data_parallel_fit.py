"""Run by test_distributed.py in a fresh process with KERAS_BACKEND=jax: a fit under
`keras.distribution.DataParallel` over two host CPU devices (XLA_FLAGS must be set before JAX is
imported). Prints a JSON summary."""

from __future__ import annotations

import json
import os
import sys

os.environ["KERAS_BACKEND"] = "jax"
os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                           + " --xla_force_host_platform_device_count=2").strip()

import keras
import numpy as np
from distributed_setup import digits_split, fit_in_predict_mode, small_model
from sklearn.metrics import confusion_matrix, f1_score

from epoch_eval import EpochEvaluator, HistoryLogs, Tally


def main(output: str) -> None:
    devices = keras.distribution.list_devices("cpu")
    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
    model = small_model()
    model.compile("adam", "sparse_categorical_crossentropy")
    # 597 validation rows in batches of 64: the last batch (21 rows) does not split in two,
    # which the evaluator's own prediction handles
    summary = fit_in_predict_mode(model, output, model.predict_on_batch)
    print(json.dumps({
        "backend": keras.backend.backend(),
        # the devices each weight lives on: both, if DataParallel really took effect
        "replicas": min(len(w.value.sharding.device_set) for w in model.weights),
        **summary,
        "tally": tally_mode(),
    }))


def tally_mode() -> dict:
    """The same model in tally mode: fit's own validation pass, sharded over both devices
    (whose batches must split evenly: 18 training batches of 64, 600 validation rows)."""
    x_train, y_train, x_val, y_val = digits_split(1152, 600)
    model = small_model()
    tally = Tally()
    model.compile("adam", "sparse_categorical_crossentropy", metrics=[tally])
    history = model.fit(x_train, y_train, epochs=2, batch_size=64, verbose=0,
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
