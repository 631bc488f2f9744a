"""The evaluator's epoch end in predict mode with 1 and with 2 local JAX processes, same data.

Run from the repository root (JAX installed; no TensorFlow needed):

    python benchmarks/bench_multiprocess.py                  # 50,000 validation rows, 4 epochs
    python benchmarks/bench_multiprocess.py --rows 200000 --epochs 6

Each run is fresh processes (2 host CPU devices each, Gloo collectives, Keras' `DataParallel`
with `auto_shard_dataset=False`): first 1 process, then 2 training together on localhost, every
process given the whole validation set (it predicts its own rows, then all gather them). The
model is a 64-256-256-10 MLP; training is 4,096 synthetic rows split between the processes, so
the epoch end dominates. Printed: the median wall time of the evaluator's `on_epoch_end` over
the epochs after the first (the first also compiles), per process, the ratio of 2 processes to
1, the part of it spent in `predict_on_batch` (the rest: gathering, scoring, sinks), and the
rows each process predicted per pass. On one machine the processes share its cores:
with 2 cores, 2 processes of 2 devices each compete for them, so the ratio shows the cost of the
gather more than the gain of several machines.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BOUND_S = 900


def worker(process_id: int, processes: int, port: int, rows: int, epochs: int) -> None:
    """One process: fit with an evaluator in predict mode; print a JSON line of timings."""
    os.environ["KERAS_BACKEND"] = "jax"
    os.environ["JAX_PLATFORMS"] = "cpu"
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
    sys.path.insert(0, str(ROOT))
    import jax

    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    import keras
    import numpy as np

    from epoch_eval import EpochEvaluator
    from epoch_eval.callback.sharding import share_bounds

    if processes > 1:
        keras.distribution.initialize(job_addresses=f"localhost:{port}",
                                      num_processes=processes, process_id=process_id)
    keras.distribution.set_distribution(keras.distribution.DataParallel(
        devices=keras.distribution.list_devices(), auto_shard_dataset=False))
    generator = np.random.default_rng(0)
    x_val = generator.normal(size=(rows, 64)).astype("float32")
    y_val = (x_val[:, :10].argmax(axis=1) + (generator.random(rows) < 0.3)) % 10
    x_train = generator.normal(size=(4096, 64)).astype("float32")
    y_train = x_train[:, :10].argmax(axis=1)
    own = slice(*share_bounds(len(x_train), processes, process_id))
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(256, activation="relu"),
                              keras.layers.Dense(256, activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    predicted: list[int] = []
    predicting: list[float] = []
    predict_on_batch = model.predict_on_batch

    def counted(x):
        predicted.append(len(x))
        start = time.perf_counter()
        scores = predict_on_batch(x)
        predicting.append(time.perf_counter() - start)
        return scores

    model.predict_on_batch = counted
    evaluator = EpochEvaluator((x_val, y_val))
    seconds: list[float] = []
    predict_seconds: list[float] = []
    rows_per_pass: list[int] = []
    on_epoch_end = evaluator.on_epoch_end

    def timed(epoch, logs=None):
        predicted.clear()
        predicting.clear()
        start = time.perf_counter()
        on_epoch_end(epoch, logs)
        seconds.append(time.perf_counter() - start)
        predict_seconds.append(sum(predicting))
        rows_per_pass.append(sum(predicted))

    evaluator.on_epoch_end = timed
    model.fit(x_train[own], y_train[own], epochs=epochs, batch_size=64, verbose=0,
              callbacks=[evaluator])
    print(json.dumps({"process": process_id, "seconds": seconds, "rows": rows_per_pass,
                      "predict_seconds": predict_seconds,
                      "f1": evaluator.latest.evaluation.f1}), flush=True)


def launch(processes: int, rows: int, epochs: int) -> list[dict]:
    """Run `processes` workers together; their JSON lines, process 0 first."""
    with socket.socket() as probe:
        probe.bind(("localhost", 0))
        port = probe.getsockname()[1]
    children = [subprocess.Popen(
        [sys.executable, __file__, "--worker", str(index), "--processes", str(processes),
         "--port", str(port), "--rows", str(rows), "--epochs", str(epochs)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True)
        for index in range(processes)]
    try:
        outputs = [child.communicate(timeout=BOUND_S)[0] for child in children]
    finally:
        for child in children:
            if child.poll() is None:
                os.killpg(child.pid, signal.SIGKILL)
                child.wait()
    if any(child.returncode for child in children):
        raise SystemExit(f"a worker failed: exit codes {[c.returncode for c in children]}")
    return [json.loads(output.strip().splitlines()[-1]) for output in outputs]


def median_after_first(values: list[float]) -> float:
    rest = sorted(values[1:] or values)
    return rest[len(rest) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--worker", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--processes", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.worker is not None:
        worker(arguments.worker, arguments.processes, arguments.port, arguments.rows,
               arguments.epochs)
        return
    print(f"{arguments.rows} validation rows x 10 classes, {arguments.epochs} epochs, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    baseline = None
    for processes in (1, 2):
        results = launch(processes, arguments.rows, arguments.epochs)
        for result in results:
            median = median_after_first(result["seconds"])
            predicting = median_after_first(result["predict_seconds"])
            baseline = baseline or median
            print(f"{processes} process(es), process {result['process']}: epoch end "
                  f"{median * 1000:.0f} ms median ({median / baseline:.2f}x 1 process; "
                  f"predicting {predicting * 1000:.0f} ms), "
                  f"rows predicted per pass {result['rows'][-1]}, "
                  f"every epoch {[round(s * 1000) for s in result['seconds']]} ms, "
                  f"f1 {result['f1']:.6f}")


if __name__ == "__main__":
    main()
