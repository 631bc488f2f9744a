"""What tally mode costs beside a plain fit, and what it saves beside predict mode.

Run from the repository root (any Keras backend; sizes are kept small for a shared machine):

    python benchmarks/bench_tally.py                 # digits 20 epochs; 100,000 synthetic rows
    python benchmarks/bench_tally.py --large 1000000 # the full synthetic size
    python benchmarks/bench_tally.py --memory        # also peak RSS at 10,000 vs 1,000,000 rows
    python benchmarks/bench_tally.py --repeats 3     # least time of 3 interleaved fits per mode

Cost: in one process, fits of the same model from the same seed, each with fit's own
`validation_data`: no callback ("plain"), plain with `metrics=["accuracy"]` (what any one
compiled metric costs per step, for reference), tally mode (`EpochEvaluator(tally)`, HistoryLogs
only) and predict mode (`EpochEvaluator((x_val, y_val))`). CPU time (process_time) and wall
time of the whole fit are printed with the ratios to plain, then the median CPU time of the
epochs after the first: the first also traces (compiles) the steps, a cost paid once per fit.
Bins: the certified AUC bound, on the trained digits model, for several bin counts (all tallies
compiled in one fit). Memory: each mode in a fresh
process over a validation `PyDataset` that makes its rows on the fly, so that only what the
evaluator keeps grows with the row count; its peak RSS is printed (see `peak_rss_mib`).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import warnings
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import keras
import numpy as np

from epoch_eval import EpochEvaluator, HistoryLogs, Tally

FEATURES, CLASSES = 32, 10


def mlp(n_inputs: int, n_classes: int) -> keras.Model:
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((n_inputs,)), keras.layers.Dense(32, activation="relu"),
                             keras.layers.Dense(n_classes, activation="softmax")])


def synthetic(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, CLASSES, n)
    x = rng.normal(size=(n, FEATURES)).astype("float32")
    x[np.arange(n), y] += 1.0
    return x, y


class SyntheticRows(keras.utils.PyDataset):
    """Validation batches made on the fly: nothing of size n is held."""

    def __init__(self, rows: int, batch: int = 2048) -> None:
        super().__init__()
        self.rows, self.batch = rows, batch

    def __len__(self) -> int:
        return -(-self.rows // self.batch)

    def __getitem__(self, index: int):
        return synthetic(min(self.batch, self.rows - index * self.batch), index + 1)


class EpochClock(keras.callbacks.Callback):
    """CPU time at each epoch's end; listed last, so every other callback's work counts."""

    def __init__(self) -> None:
        super().__init__()
        self.ends: list[float] = []

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.ends.append(time.process_time())

    def later_epoch(self) -> float:
        """The median CPU time of the epochs after the first (which traces the steps)."""
        return float(np.median(np.diff(self.ends))) if len(self.ends) > 1 else float("nan")


def timed_fit(mode: str, data, epochs: int, batch_size: int) -> tuple[float, float, float]:
    x, y, x_val, y_val = data
    model = mlp(x.shape[1], CLASSES)
    tally = Tally()
    metrics = {"tally": [tally], "accuracy": ["accuracy"]}.get(mode, [])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=metrics)
    callbacks = {"plain": [], "accuracy": [],
                 "tally": [EpochEvaluator(tally, sinks=[HistoryLogs()])],
                 "predict": [EpochEvaluator((x_val, y_val), sinks=[HistoryLogs()],
                                            batch_size=batch_size)]}[mode]
    clock = EpochClock()
    cpu, wall = time.process_time(), time.perf_counter()
    history = model.fit(x, y, epochs=epochs, batch_size=batch_size, verbose=0,
                        validation_data=(x_val, y_val), validation_batch_size=batch_size,
                        callbacks=[*callbacks, clock])
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    check_history(mode, history.history, epochs)
    return cpu, wall, clock.later_epoch()


def check_history(mode: str, history: dict[str, list], epochs: int) -> None:
    """Exit with status 1, naming `mode` and the keys, unless its fit logged every epoch of
    what it is timed for (a mode that silently evaluated nothing would look cheap)."""
    keys = {"plain": ["val_loss"], "accuracy": ["val_loss", "val_accuracy"],
            "tally": ["val_loss", "val_f1", "val_roc_auc"],
            "predict": ["val_loss", "val_f1", "val_roc_auc"]}[mode]
    short = {key: len(history.get(key, [])) for key in keys
             if len(history.get(key, [])) != epochs}
    if short:
        sys.exit(f"BENCHMARK FAILED, no figure printed: {mode} did not log every epoch: "
                 f"values per key {short}, expected {epochs}")


def cost(name: str, data, epochs: int, batch_size: int, repeats: int = 1) -> dict:
    timed_fit("plain", data, 1, batch_size)  # warm up the backend
    modes = ("plain", "accuracy", "tally", "predict")
    runs = [[timed_fit(mode, data, epochs, batch_size) for mode in modes]
            for _ in range(repeats)]  # interleaved, so that load changes hit every mode
    times = {mode: tuple(min(run[i][j] for run in runs) for j in range(3))
             for i, mode in enumerate(modes)}
    plain_cpu, plain_wall, plain_epoch = times["plain"]
    print(f"\n{name}: {epochs} epochs, {len(data[0])} train rows, {len(data[2])} val rows"
          + (f" (best of {repeats})" if repeats > 1 else ""))
    print("  whole fit (the first epoch traces the steps); then CPU per later epoch")
    for mode, (cpu, wall, epoch) in times.items():
        print(f"  {mode:8s} cpu {cpu:7.2f} s  wall {wall:7.2f} s   "
              f"cpu/plain {cpu / plain_cpu:5.3f}  wall/plain {wall / plain_wall:5.3f}   "
              f"epoch {epoch * 1000:6.1f} ms  epoch/plain {epoch / plain_epoch:5.3f}")
    return times


def bins_sweep(data, epochs: int) -> None:
    x, y, x_val, y_val = data
    model = mlp(x.shape[1], CLASSES)
    tallies = [Tally(bins=b, name=f"tally_{b}") for b in (64, 128, 256, 512, 1024, 2048)]
    model.compile("adam", "sparse_categorical_crossentropy", metrics=tallies)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(x, y, epochs=epochs, verbose=0, validation_data=(x_val, y_val),
                  callbacks=[EpochEvaluator(tallies[-1], sinks=[])])
    from sklearn.metrics import roc_auc_score

    from epoch_eval.metrics.binned import evaluate_binned

    exact = roc_auc_score(y_val, model.predict(x_val, verbose=0), multi_class="ovr")
    print(f"\nbins (digits after {epochs} epochs; exact macro ROC AUC {exact:.5f}):")
    for tally in tallies:
        evaluation = evaluate_binned(tally.counts())
        print(f"  bins {tally.bins:5d}: auc {evaluation.roc_auc:.5f}  error "
              f"{abs(evaluation.roc_auc - exact):.5f}  certified bound "
              f"{evaluation.roc_auc_error_bound:.5f}")


def memory_child(mode: str, rows: int) -> None:
    x, y = synthetic(2048, 0)
    model = mlp(FEATURES, CLASSES)
    tally = Tally()
    model.compile("adam", "sparse_categorical_crossentropy",
                  metrics=[tally] if mode == "tally" else [])
    callbacks = {"plain": [], "tally": [EpochEvaluator(tally, sinks=[HistoryLogs()])],
                 "predict": [EpochEvaluator(SyntheticRows(rows), sinks=[HistoryLogs()])]}[mode]
    history = model.fit(x, y, epochs=1, batch_size=256, verbose=0,
                        validation_data=SyntheticRows(rows), callbacks=callbacks)
    check_history(mode, history.history, 1)
    print(json.dumps({"peak_rss_mib": peak_rss_mib()}))


def peak_rss_mib() -> float:
    """This process's peak RSS. Linux's `VmHWM`, as `ru_maxrss` keeps the peak of the parent
    that forked it (here, the benchmark, after all its fits): every child would report that."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def memory(large: int) -> None:
    print("\npeak RSS, one epoch, validation rows made on the fly (fresh process each; plain:"
          " fit's own validation pass alone):")
    for mode in ("plain", "tally", "predict"):
        peaks = []
        for rows in (10_000, large):
            out = subprocess.run([sys.executable, __file__, "--child", mode, str(rows)],
                                 capture_output=True, text=True, check=True).stdout
            peaks.append(json.loads(out.strip().splitlines()[-1])["peak_rss_mib"])
        print(f"  {mode:8s} 10,000 rows {peaks[0]:8.1f} MiB   {large:,} rows {peaks[1]:8.1f} MiB"
              f"   growth {peaks[1] - peaks[0]:+7.1f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=20, help="digits epochs")
    parser.add_argument("--large", type=int, default=100_000, help="synthetic validation rows")
    parser.add_argument("--large-epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=1,
                        help="fits per mode (interleaved); the least time is printed")
    parser.add_argument("--memory", action="store_true", help="also measure peak RSS")
    parser.add_argument("--memory-rows", type=int, default=1_000_000)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        memory_child(args.child[0], int(args.child[1]))
        return
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    print(f"Keras {keras.__version__}, backend {keras.backend.backend()}; load average before: "
          + " ".join(f"{v:.2f}" for v in os.getloadavg()) + f" ({os.cpu_count()} cores)")
    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype("float32")
    x_train, x_val, y_train, y_val = train_test_split(x, y, test_size=0.25, random_state=0,
                                                      stratify=y)
    digits = (x_train, y_train, x_val, y_val)
    cost("digits", digits, args.epochs, 32, args.repeats)
    cost("synthetic", (*synthetic(4096, 0), *synthetic(args.large, 1)), args.large_epochs, 1024,
         args.repeats)
    bins_sweep(digits, args.epochs)
    if args.memory:
        memory(args.memory_rows)
    print("\nload average after: " + " ".join(f"{v:.2f}" for v in os.getloadavg())
          + f" ({os.cpu_count()} cores)"
          + ("; the machine was busy: figures flattered and noisy"
             if os.getloadavg()[0] > 0.5 * (os.cpu_count() or 1) else ""))


if __name__ == "__main__":
    main()
