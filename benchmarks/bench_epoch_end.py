"""What epoch_eval costs per epoch, against no callback and against the naive blog callback.

One setup, measured three ways in one run: digits (scikit-learn's bundled set), a 64-32-10 MLP,
20 epochs, validation data passed to `fit`.

- none: no callback;
- epoch_eval: `EpochEvaluator` with `HistoryLogs` and `PngFolder` drawing all three charts
  (on the evaluator's drawing thread);
- process_charts (for the design choice): the same charts drawn by the same `FastCharts` in
  a child process (`ProcessPoolExecutor`, one worker, backlog 4), as a thread's alternative;
- naive: what the blog callback of seed 000 does: `predict`, then two pyplot figures at 16x12
  inches, drawn on the training thread and never closed;
- history_only (for reference): `EpochEvaluator` with `HistoryLogs` alone, the cost of
  predicting and scoring without any chart.

Each way runs in a fresh Python process, `--repeats` times, interleaved; the best wall time is
kept (machines here are noisy). RSS growth is the training process's RSS after the last epoch
minus after the first (epoch_eval's first charts are drawn after that: the growth includes
Matplotlib's frames and fonts); the process variant's child RSS is reported beside it.

Run: python benchmarks/bench_epoch_end.py [--epochs 20] [--repeats 3] [--long 200]
Targets: epoch_eval / none <= 1.5, naive / epoch_eval >= 3, epoch_eval RSS growth <= 40 MB,
flat over 200 epochs; per-chart CPU at 10 classes <= 25 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # this epoch_eval

import keras
import matplotlib
import numpy as np
import psutil
from sklearn.datasets import load_digits
from sklearn.metrics import auc, confusion_matrix, roc_curve
from sklearn.model_selection import train_test_split

VARIANTS = ("none", "epoch_eval", "naive", "history_only", "process_charts")


class NaiveBlogCallback(keras.callbacks.Callback):
    """Seed 000's callback, ported to Keras 3 only as far as it must be to run."""

    def __init__(self, validation_data, output):
        super().__init__()
        self.validation_data = validation_data
        self.output = output

    def on_epoch_end(self, epoch, logs=None):
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        x, y = self.validation_data
        y_score = self.model.predict(x)
        matrix = confusion_matrix(y, np.argmax(y_score, axis=1))
        plt.figure(figsize=(16, 12))  # never closed, as in the blog
        plt.imshow(matrix, cmap="Blues")
        for (i, j), value in np.ndenumerate(matrix):
            plt.text(j, i, str(value), ha="center", va="center")
        plt.title("Confusion matrix")
        plt.colorbar()
        plt.savefig(os.path.join(self.output, f"confusion_matrix_{epoch}.png"))
        plt.figure(figsize=(16, 12))
        for k in range(y_score.shape[1]):
            fpr, tpr, _ = roc_curve(y == k, y_score[:, k])
            plt.plot(fpr, tpr, label=f"class {k} (area = {auc(fpr, tpr):.2f})")
        plt.plot([0, 1], [0, 1], "k--")
        plt.legend(loc="lower right")
        plt.title("ROC curves")
        plt.savefig(os.path.join(self.output, f"roc_{epoch}.png"))


_CHILD_CHARTS = None


def _draw_in_child(epoch, evaluation, folder):
    """Runs in the child process of `process_charts`: one `FastCharts` for the whole fit."""
    global _CHILD_CHARTS
    from epoch_eval.charts import CHART_NAMES
    from epoch_eval.charts.fast import FastCharts
    from epoch_eval.sinks.outputs import write_atomically

    if _CHILD_CHARTS is None:
        _CHILD_CHARTS = FastCharts()
    for chart in CHART_NAMES:
        write_atomically(os.path.join(folder, f"{chart}_epoch_{epoch:03d}.png"),
                         _CHILD_CHARTS.png(chart, evaluation, epoch))


def process_charts_sink(folder):
    """A sink that hands each epoch to one child process (the design not chosen)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, wait

    from epoch_eval import Sink
    from epoch_eval.charts.thinning import thin_evaluation

    class ProcessCharts(Sink):
        def open(self):
            # fork: the child starts at once, Matplotlib and epoch_eval already imported
            self.pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork"))
            self.pending = []

        def write(self, result):
            self.pending = [f for f in self.pending if not f.done()]
            if len(self.pending) >= 4:
                wait(self.pending, return_when="FIRST_COMPLETED")
            self.pending.append(self.pool.submit(_draw_in_child, result.epoch,
                                                 thin_evaluation(result.evaluation), folder))

        def close(self):
            self.pool.shutdown(wait=True)

    return ProcessCharts()


def digits_split() -> list[np.ndarray]:
    """x_train, x_val, y_train, y_val of scikit-learn's bundled digits."""
    x, y = load_digits(return_X_y=True)
    return train_test_split((x / 16.0).astype("float32"), y, test_size=0.2, random_state=0,
                            stratify=y)


def run_variant(variant: str, epochs: int, output: str) -> dict[str, float]:
    """Train once with `variant` and measure it (runs inside a fresh process)."""
    keras.utils.set_random_seed(0)
    x_train, x_val, y_train, y_val = digits_split()
    model = keras.Sequential([
        keras.Input((64,)),
        keras.layers.Dense(32, activation="relu"),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    process = psutil.Process()
    rss: list[int] = []
    chart_process_rss: list[int] = [0]

    class RecordRss(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            rss.append(process.memory_info().rss)
            children = process.children()
            chart_process_rss.append(sum(c.memory_info().rss for c in children))

    callbacks: list[keras.callbacks.Callback] = []
    timings = {"scoring_s": 0.0, "waiting_for_charts_s": 0.0}
    if variant == "epoch_eval":
        from epoch_eval import EpochEvaluator, HistoryLogs, PngFolder

        class TimedEvaluator(EpochEvaluator):
            """Splits epoch_eval's time: predicting and scoring (on_epoch_end) and waiting
            for a full chart backlog (on_epoch_begin) or for the last charts (on_train_end)."""

            def on_epoch_end(self, epoch, logs=None):
                start = time.perf_counter()
                super().on_epoch_end(epoch, logs)
                timings["scoring_s"] += time.perf_counter() - start

            def on_epoch_begin(self, epoch, logs=None):
                start = time.perf_counter()
                super().on_epoch_begin(epoch, logs)
                timings["waiting_for_charts_s"] += time.perf_counter() - start

            def on_train_end(self, logs=None):
                start = time.perf_counter()
                super().on_train_end(logs)
                timings["waiting_for_charts_s"] += time.perf_counter() - start

        callbacks.append(TimedEvaluator((x_val, y_val),
                                        sinks=[HistoryLogs(), PngFolder(output)]))
    elif variant == "process_charts":
        from epoch_eval import EpochEvaluator, HistoryLogs

        callbacks.append(EpochEvaluator((x_val, y_val),
                                        sinks=[HistoryLogs(), process_charts_sink(output)]))
    elif variant == "history_only":
        from epoch_eval import EpochEvaluator

        callbacks.append(EpochEvaluator((x_val, y_val)))
    elif variant == "naive":
        callbacks.append(NaiveBlogCallback((x_val, y_val), output))
    callbacks.append(RecordRss())
    start = time.perf_counter()
    cpu_start = time.process_time()
    children_start = resource.getrusage(resource.RUSAGE_CHILDREN)
    model.fit(x_train, y_train, epochs=epochs, batch_size=32, verbose=0,
              validation_data=(x_val, y_val), callbacks=callbacks)
    wall = time.perf_counter() - start
    cpu = time.process_time() - cpu_start
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    children_cpu = (children.ru_utime + children.ru_stime
                    - children_start.ru_utime - children_start.ru_stime)
    rss.append(process.memory_info().rss)
    files = len(os.listdir(output))
    return {"wall": wall, "cpu": cpu, "children_cpu": children_cpu,
            "rss_growth_mb": (rss[-1] - rss[0]) / 2**20, "files": files,
            "per_epoch": wall / epochs, "chart_process_mb": max(chart_process_rss) / 2**20,
            # from epoch 10 on: the child has imported Matplotlib and drawn a few epochs
            "chart_process_growth_mb": (chart_process_rss[-1]
                                        - chart_process_rss[min(10, len(chart_process_rss) - 1)])
            / 2**20,
            **timings}


def measure_in_subprocess(variant: str, epochs: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix=f"bench_{variant}_") as output:
        completed = subprocess.run(
            [sys.executable, __file__, "--child", variant, "--epochs", str(epochs),
             "--output", output],
            capture_output=True, text=True, check=False, timeout=1200,
        )
        if completed.returncode != 0:
            raise RuntimeError(f"{variant} failed:\n{completed.stderr[-3000:]}")
        return json.loads(completed.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", choices=VARIANTS)
    parser.add_argument("--output")
    parser.add_argument("--long", type=int, default=0, metavar="EPOCHS",
                        help="also one epoch_eval run this long, for memory growth")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_variant(args.child, args.epochs, args.output)))
        return
    runs: dict[str, list[dict[str, float]]] = {variant: [] for variant in VARIANTS}
    for repeat in range(args.repeats):
        for variant in VARIANTS:
            result = measure_in_subprocess(variant, args.epochs)
            runs[variant].append(result)
            print(f"repeat {repeat + 1}: {variant:>14}  wall {result['wall']:6.2f} s  "
                  f"RSS growth {result['rss_growth_mb']:6.1f} MB  files {result['files']}",
                  flush=True)
    best = {variant: min(runs[variant], key=lambda r: r["wall"]) for variant in VARIANTS}
    overhead = best["epoch_eval"]["wall"] / best["none"]["wall"]
    speedup = best["naive"]["wall"] / best["epoch_eval"]["wall"]
    growth = max(r["rss_growth_mb"] for r in runs["epoch_eval"])
    naive_growth = max(r["rss_growth_mb"] for r in runs["naive"])
    print(f"\n{args.epochs} epochs, best of {args.repeats}:")
    for variant in VARIANTS:
        result = best[variant]
        print(f"  {variant:>14}: {result['wall']:6.2f} s ({result['per_epoch'] * 1000:5.0f} "
              f"ms/epoch), CPU {result['cpu']:5.2f} s in the training process + "
              f"{result['children_cpu']:5.2f} s in children")
    print(f"  wall(epoch_eval) / wall(no callback) = {overhead:.2f}   (target <= 1.5)")
    print(f"  wall(naive) / wall(epoch_eval)       = {speedup:.2f}   (target >= 3)")
    print(f"  wall(history_only) / wall(no callback) = "
          f"{best['history_only']['wall'] / best['none']['wall']:.2f}   (no chart drawn)")
    print(f"  wall(process_charts) / wall(no callback) = "
          f"{best['process_charts']['wall'] / best['none']['wall']:.2f}   (charts in a child "
          "process instead of a thread)")
    print(f"  epoch_eval RSS growth (worst)        = {growth:.1f} MB (target <= 40 MB); "
          f"naive: {naive_growth:.1f} MB")
    child_mb = max(r["chart_process_mb"] for r in runs["process_charts"])
    print(f"  process_charts' child RSS (peak)     = {child_mb:.1f} MB (epoch_eval: no child)")
    timed = best["epoch_eval"]
    print(f"\nWhere epoch_eval's time goes (its best run): predicting and scoring "
          f"{timed['scoring_s']:.2f} s, waiting for the chart backlog "
          f"{timed['waiting_for_charts_s']:.2f} s")
    print_chart_costs(digits_split()[3])
    if args.long:
        for variant in ("epoch_eval", "history_only"):
            long = measure_in_subprocess(variant, args.long)
            print(f"\n{args.long} epochs with {variant}: {long['files']} files, training "
                  f"process RSS growth {long['rss_growth_mb']:.1f} MB")


def epoch_evaluations(y_val: np.ndarray, epochs: int = 20) -> list:
    """A plausible 10-class training run: the true class gains score epoch after epoch."""
    from epoch_eval import evaluate

    rng = np.random.default_rng(0)
    noise = rng.dirichlet(np.ones(10), len(y_val))
    evaluations = []
    for epoch in range(epochs):
        scores = noise.copy()
        scores[np.arange(len(y_val)), y_val] += 0.05 * (epoch + 1)
        evaluations.append(evaluate(y_val, scores / scores.sum(axis=1, keepdims=True)))
    return evaluations


def print_chart_costs(y_val: np.ndarray) -> None:
    """CPU per chart PNG at 10 classes: a fresh figure (`chart_png`, how every chart was drawn
    before), and the evaluator's `FastCharts` over the 20 epochs of a run (its first epoch
    draws the frame in full)."""
    from epoch_eval.charts import CHART_NAMES, chart_png
    from epoch_eval.charts.fast import FastCharts

    evaluations = epoch_evaluations(y_val)
    chart_png("roc_curve", evaluations[0], epoch=1)  # warm-up: imports, fonts
    charts = FastCharts()
    print("CPU per chart PNG, 10 classes (target <= 25 ms):")
    for chart in CHART_NAMES:
        start = time.process_time()
        for epoch in (1, 2, 3):
            chart_png(chart, evaluations[epoch - 1], epoch=epoch)
        fresh = (time.process_time() - start) / 3
        costs = []
        for epoch, evaluation in enumerate(evaluations, start=1):
            start = time.process_time()
            charts.png(chart, evaluation, epoch)
            costs.append(time.process_time() - start)
        print(f"  {chart:>16}: fresh figure {fresh * 1000:5.0f} ms   FastCharts "
              f"{np.mean(costs) * 1000:5.1f} ms a chart over {len(costs)} epochs "
              f"(first {costs[0] * 1000:.0f} ms, then {np.mean(costs[1:]) * 1000:.1f} ms)"
              f"   {fresh / np.mean(costs):.1f}x cheaper")


if __name__ == "__main__":
    main()
