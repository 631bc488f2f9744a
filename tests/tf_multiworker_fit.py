"""Run by test_multiprocess.py as one of 2 local TensorFlow workers: Keras' own `fit` under
`MultiWorkerMirroredStrategy`, with no epoch_eval at all (keras-team/keras#20585: it fails).

    python tf_multiworker_fit.py WORKER_INDEX PORT_0 PORT_1
"""

from __future__ import annotations

import json
import os
import sys

index, ports = int(sys.argv[1]), sys.argv[2:]
os.environ["TF_CONFIG"] = json.dumps({
    "cluster": {"worker": [f"localhost:{port}" for port in ports]},
    "task": {"type": "worker", "index": index}})
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
print(f"worker {index}: importing", flush=True)

import tensorflow as tf  # noqa: E402
from distributed_setup import digits_split, small_model  # noqa: E402

strategy = tf.distribute.MultiWorkerMirroredStrategy()
x_train, y_train, _, _ = digits_split(train_rows=256)
with strategy.scope():
    model = small_model()
    model.compile("adam", "sparse_categorical_crossentropy")
print(f"worker {index}: fitting", flush=True)
model.fit(x_train, y_train, epochs=1, batch_size=64, verbose=0)
print(f"worker {index}: fit done", flush=True)
