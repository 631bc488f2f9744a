"""Run by test_distributed.py in a fresh process: a fit under MirroredStrategy on two logical
CPU devices (they must be configured before TensorFlow runs any op). Prints a JSON summary."""

from __future__ import annotations

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

from distributed_setup import fit_in_predict_mode, small_model  # noqa: E402


def main(output: str) -> None:
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    with strategy.scope():
        model = small_model()
        model.compile("adam", "sparse_categorical_crossentropy")
    summary = fit_in_predict_mode(model, output, lambda x: model.predict(x, verbose=0))
    print(json.dumps({"replicas": strategy.num_replicas_in_sync, **summary}))


if __name__ == "__main__":
    main(sys.argv[1])
