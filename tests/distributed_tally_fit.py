"""Run by test_tally_distributed.py in a fresh process: a fit in tally mode under
MirroredStrategy on two logical CPU devices. Prints a JSON summary."""

from __future__ import annotations

import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

from distributed_setup import digits_split, small_model  # noqa: E402
from sklearn.metrics import confusion_matrix, f1_score  # noqa: E402

from epoch_eval import EpochEvaluator, Tally  # noqa: E402


def main() -> None:
    x_train, y_train, x_val, y_val = digits_split()
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    with strategy.scope():
        model = small_model()
        tally = Tally()
        model.compile("adam", "sparse_categorical_crossentropy", metrics=[tally])
    evaluator = EpochEvaluator(tally)
    history = model.fit(x_train, y_train, epochs=2, batch_size=64, verbose=0,
                        validation_data=(x_val, y_val), callbacks=[evaluator])
    result = evaluator.evaluate_now()
    predicted = model.predict(x_val, verbose=0).argmax(axis=1)
    print(json.dumps({
        "replicas": strategy.num_replicas_in_sync,
        "val_f1": history.history["val_f1"],
        "n_samples": result.n_samples,
        "n_val": len(y_val),
        "confusion_matrix": result.confusion_matrix.tolist(),
        "sklearn_confusion_matrix": confusion_matrix(y_val, predicted).tolist(),
        "f1": result.f1,
        "sklearn_f1": f1_score(y_val, predicted, average="macro"),
    }))


if __name__ == "__main__":
    main()
