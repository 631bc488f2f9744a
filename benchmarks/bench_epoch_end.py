"""What epoch_eval costs per epoch, against no callback and against the naive blog callback.

One setup, measured five ways: digits (scikit-learn's bundled set), a 64-32-10 MLP, 20 epochs,
validation data passed to `fit`.

- none: no callback;
- epoch_eval: `EpochEvaluator` with `HistoryLogs` and `PngFolder` drawing all three charts
  (in its chart process, which the evaluator's drawing thread waits on with the GIL free);
- naive: what the blog callback of seed 000 does: `predict`, then two pyplot figures at 16x12
  inches, drawn on the training thread and never closed;
- history_only (for reference): `EpochEvaluator` with `HistoryLogs` alone, the cost of
  predicting and scoring without any chart;
- thread_charts (for the design choice): the same, with the charts drawn by the same
  `FastCharts` on the drawing thread itself (the design before the chart process, and what
  the evaluator falls back to where no child process can start).

Nothing is printed for work that was not done: each run is checked before any figure is shown
(History keys of every epoch; epochs x charts files that decode as PNGs of the chart's size;
every chart drawn once per epoch), and a run that fails a check ends the benchmark with exit
status 1, naming the variant and what is missing.

Each way runs in a fresh Python process, `--repeats` times, interleaved. Printed: the whole
fit (first epoch included) and the median epoch of epochs 2..N, each the best of the repeats
(machines here are noisy and shared), and the load average before and after: a busy machine
flatters the ratios (see the field notes), so the benchmark says when it was busy. RSS growth is
the training process's RSS after the last epoch minus after the first; the chart process'
RSS is reported beside it. Per-chart CPU is the drawing thread's own CPU time in
`thread_charts` (`time.thread_time` around each `FastCharts.png`, wrapped here only), the
chart process' CPU over the charts it drew in `epoch_eval` (its startup included), and
`FastCharts` measured alone in this process.

Run: python benchmarks/bench_epoch_end.py [--epochs 20] [--repeats 3] [--long 200]
Targets: whole fit epoch_eval / none <= 1.3, naive / epoch_eval >= 3, epoch_eval RSS growth
<= 40 MB, flat over 200 epochs; per-chart CPU at 10 classes <= 25 ms.
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
from collections.abc import Callable
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # this epoch_eval

import keras
import matplotlib
import numpy as np
import psutil
from PIL import Image
from sklearn.datasets import load_digits
from sklearn.metrics import auc, confusion_matrix, roc_curve
from sklearn.model_selection import train_test_split

VARIANTS = ("none", "epoch_eval", "naive", "history_only", "thread_charts")
CHARTED = ("epoch_eval", "thread_charts")
"""The variants that must write every chart of every epoch."""
KERAS_KEYS = ("loss", "accuracy", "val_loss", "val_accuracy")
EPOCH_EVAL_KEYS = ("val_f1", "val_precision", "val_recall", "val_roc_auc", "val_pr_auc")
NAIVE_SIZE = (1600, 1200)  # 16x12 inches at pyplot's 100 dpi


class BenchmarkFailure(RuntimeError):
    """A variant did not do the work it is timed for."""


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


DRAWN: list[tuple[str, int, float]] = []
"""(chart, epoch, seconds) of every chart drawn: the drawing thread's CPU in `thread_charts`,
its wall-clock wait for the chart process in `epoch_eval`."""
CHART_PIDS: set[int] = set()
"""The chart processes that drew `epoch_eval`'s charts (none: it fell back to the thread)."""


def time_fast_charts() -> None:
    """Wrap `FastCharts.png` (in this benchmark only) to record each chart drawn and the
    drawing thread's own CPU time for it (`time.thread_time`: other threads not counted)."""
    from epoch_eval.charts.fast import FastCharts

    png = FastCharts.png

    def timed_png(self: FastCharts, name: str, evaluation: Any, epoch: int) -> bytes:
        start = time.thread_time()
        data = png(self, name, evaluation, epoch)
        DRAWN.append((name, epoch, time.thread_time() - start))
        return data

    FastCharts.png = timed_png  # type: ignore[method-assign]


def time_chart_process() -> None:
    """Wrap `DrawerProcess.png` to record each chart the chart process drew, the wait for it,
    and the process' id."""
    from epoch_eval.sinks.drawer_process import DrawerProcess

    png = DrawerProcess.png

    def timed_png(self: DrawerProcess, name: str, evaluation: Any, epoch: int) -> bytes:
        start = time.perf_counter()
        data = png(self, name, evaluation, epoch)
        DRAWN.append((name, epoch, time.perf_counter() - start))
        if self.pid is not None:
            CHART_PIDS.add(self.pid)
        return data

    DrawerProcess.png = timed_png  # type: ignore[method-assign]


def draw_on_the_thread() -> None:
    """The design before the chart process: the renderer's drawing thread draws itself."""
    from epoch_eval.sinks import rendering

    init = rendering._Backlog.__init__

    def in_process(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        self.in_process = True

    rendering._Backlog.__init__ = in_process  # type: ignore[method-assign]


def digits_split() -> list[np.ndarray]:
    """x_train, x_val, y_train, y_val of scikit-learn's bundled digits."""
    x, y = load_digits(return_X_y=True)
    return train_test_split((x / 16.0).astype("float32"), y, test_size=0.2, random_state=0,
                            stratify=y)


def run_variant(variant: str, epochs: int, output: str,
                batch_size: int | None = None) -> dict[str, Any]:
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
    epoch_ends: list[float] = []

    class RecordEpochs(keras.callbacks.Callback):
        """Listed last: each epoch's end, after every other callback's work; RSS."""

        def on_train_begin(self, logs=None):
            epoch_ends.append(time.perf_counter())

        def on_epoch_end(self, epoch, logs=None):
            epoch_ends.append(time.perf_counter())
            rss.append(process.memory_info().rss)
            children = process.children()
            chart_process_rss.append(sum(c.memory_info().rss for c in children))

    callbacks: list[keras.callbacks.Callback] = []
    timings = {"scoring_s": 0.0, "waiting_for_charts_s": 0.0}
    evaluator_args = {} if batch_size is None else {"batch_size": batch_size}
    if variant == "thread_charts":
        draw_on_the_thread()
        time_fast_charts()
    elif variant == "epoch_eval":
        time_chart_process()
    if variant in CHARTED:
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

        callbacks.append(TimedEvaluator((x_val, y_val), sinks=[HistoryLogs(), PngFolder(output)],
                                        **evaluator_args))
    elif variant == "history_only":
        from epoch_eval import EpochEvaluator

        callbacks.append(EpochEvaluator((x_val, y_val), **evaluator_args))
    elif variant == "naive":
        callbacks.append(NaiveBlogCallback((x_val, y_val), output))
    callbacks.append(RecordEpochs())
    start = time.perf_counter()
    cpu_start = time.process_time()
    children_start = resource.getrusage(resource.RUSAGE_CHILDREN)
    history = model.fit(x_train, y_train, epochs=epochs, batch_size=32, verbose=0,
                        validation_data=(x_val, y_val), callbacks=callbacks)
    wall = time.perf_counter() - start
    cpu = time.process_time() - cpu_start
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    children_cpu = (children.ru_utime + children.ru_stime
                    - children_start.ru_utime - children_start.ru_stime)
    rss.append(process.memory_info().rss)
    epoch_walls = np.diff(epoch_ends)
    return {"wall": wall, "cpu": cpu, "children_cpu": children_cpu,
            "first_epoch": float(epoch_walls[0]),
            "median_epoch": float(np.median(epoch_walls[1:])) if epochs > 1 else float("nan"),
            "epoch_walls": [float(w) for w in epoch_walls],
            "rss_growth_mb": (rss[-1] - rss[0]) / 2**20,
            "chart_process_mb": max(chart_process_rss) / 2**20,
            "history": {key: len(values) for key, values in history.history.items()},
            "drawn": DRAWN, "chart_pids": sorted(CHART_PIDS),
            **timings}


def expected_files(variant: str, epochs: int) -> dict[str, tuple[int, int]]:
    """The files `variant` must write over `epochs` epochs, with their (width, height)."""
    if variant == "naive":
        return {f"{chart}_{epoch}.png": NAIVE_SIZE for chart in ("confusion_matrix", "roc")
                for epoch in range(epochs)}
    if variant not in CHARTED:
        return {}
    from epoch_eval import evaluate
    from epoch_eval.charts import CHART_NAMES
    from epoch_eval.charts._figure import DPI
    from epoch_eval.charts.confusion_matrix import confusion_matrix_figsize
    from epoch_eval.charts.pr_curve import pr_curve_figsize
    from epoch_eval.charts.roc_curve import roc_curve_figsize

    y_val = digits_split()[3]
    # the figure size follows the task and the class names only, not the scores
    evaluation = evaluate(y_val, np.eye(10)[(y_val + 1) % 10] * 0.5 + 0.05)
    figsizes: dict[str, Callable[[Any], tuple[float, float]]] = {
        "confusion_matrix": confusion_matrix_figsize, "roc_curve": roc_curve_figsize,
        "pr_curve": pr_curve_figsize}
    sizes = {}
    for chart in CHART_NAMES:
        width, height = figsizes[chart](evaluation)
        sizes[chart] = (int(width * DPI), int(height * DPI))  # as the Agg canvas rounds
    return {f"{chart}_epoch_{epoch:03d}.png": sizes[chart] for chart in CHART_NAMES
            for epoch in range(1, epochs + 1)}


def check_run(variant: str, epochs: int, output: str, result: dict[str, Any]) -> list[str]:
    """What `variant` failed to do: files missing or not PNGs of the right size, charts not
    drawn once per epoch, History keys missing. Empty when it did all its work."""
    problems = []
    expected = expected_files(variant, epochs)
    written = {name for name in os.listdir(output) if not name.startswith(".")}
    if expected and not written:
        problems.append(f"wrote 0 files (expected {len(expected)})")
    missing = sorted(set(expected) - written)
    if missing and written:
        problems.append(f"{len(missing)} of {len(expected)} files missing, e.g. {missing[:3]}")
    if written - set(expected):
        problems.append(f"unexpected files {sorted(written - set(expected))[:3]}")
    for name in sorted(set(expected) & written):
        try:
            with Image.open(os.path.join(output, name)) as image:
                image.load()  # decodes the whole file
                if image.format != "PNG" or image.size != expected[name]:
                    problems.append(f"{name} is a {image.format} of {image.size}, expected a "
                                    f"PNG of {expected[name]}")
        except Exception as error:
            problems.append(f"{name} does not decode ({type(error).__name__}: {error})")
    if variant in CHARTED:
        drawn = sorted((chart, epoch) for chart, epoch, _ in result["drawn"])
        wanted = sorted((name.split("_epoch_")[0], epoch) for name in expected
                        for epoch in [int(name[-7:-4])])
        if drawn != wanted:
            problems.append(f"drew {len(drawn)} charts, expected each of {len(wanted)} once")
    if variant == "epoch_eval" and not result["chart_pids"]:
        problems.append("no chart process drew its charts (it fell back to the thread)")
    keys = KERAS_KEYS + (EPOCH_EVAL_KEYS if variant in (*CHARTED, "history_only") else ())
    short = {key: result["history"].get(key, 0) for key in keys
             if result["history"].get(key, 0) != epochs}
    if short:
        problems.append(f"History keys without {epochs} epochs of values: {short}")
    return problems


def measure_in_subprocess(variant: str, epochs: int,
                          batch_size: int | None = None) -> dict[str, Any]:
    """Run `variant` in a fresh process and check its work.

    Raises:
        BenchmarkFailure: naming the variant and what it did not do.
    """
    with tempfile.TemporaryDirectory(prefix=f"bench_{variant}_") as output:
        command = [sys.executable, __file__, "--child", variant, "--epochs", str(epochs),
                   "--output", output]
        if batch_size is not None:
            command += ["--batch-size", str(batch_size)]
        completed = subprocess.run(command, capture_output=True, text=True, check=False,
                                   timeout=1200)
        if completed.returncode != 0:
            raise BenchmarkFailure(f"{variant} failed:\n{completed.stderr[-3000:]}")
        lines = completed.stdout.strip().splitlines()
        if not lines:
            raise BenchmarkFailure(f"{variant} printed no result:\n{completed.stderr[-3000:]}")
        result = json.loads(lines[-1])
        problems = check_run(variant, epochs, output, result)
        if problems:
            warnings = [line for line in completed.stderr.splitlines() if "Warning" in line]
            raise BenchmarkFailure(f"{variant} did not do its work: " + "; ".join(problems)
                                   + ("\n  its warnings: " + "\n  ".join(warnings[:5])
                                      if warnings else ""))
        result["files"] = len(expected_files(variant, epochs))
        return result


def load_line(when: str) -> tuple[str, float]:
    """The load average, as a line to print, and the 1-minute figure."""
    one, five, fifteen = os.getloadavg()
    return (f"load average {when}: {one:.2f} {five:.2f} {fifteen:.2f} "
            f"({os.cpu_count()} cores)"), one


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--variants", default=",".join(VARIANTS),
                        help="comma-separated subset of " + ",".join(VARIANTS))
    parser.add_argument("--batch-size", type=int, default=None,
                        help="the evaluator's prediction batch (default: its own)")
    parser.add_argument("--child", choices=VARIANTS)
    parser.add_argument("--output")
    parser.add_argument("--long", type=int, default=0, metavar="EPOCHS",
                        help="also one epoch_eval run this long, for memory growth")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_variant(args.child, args.epochs, args.output, args.batch_size)))
        return
    variants = tuple(args.variants.split(","))
    if args.epochs < 2 or not set(variants) <= set(VARIANTS) or "none" not in variants:
        parser.error(f"--epochs must be >= 2 and --variants a subset of {VARIANTS} with none")
    try:
        run_all(args, variants)
    except BenchmarkFailure as failure:
        print(f"\nBENCHMARK FAILED, no figure printed: {failure}", file=sys.stderr)
        sys.exit(1)


def run_all(args: argparse.Namespace, variants: tuple[str, ...]) -> None:
    """Measure, check and print every variant (raises `BenchmarkFailure` before printing
    any summary if one did not do its work)."""
    before, load_before = load_line("before")
    print(before, flush=True)
    runs: dict[str, list[dict[str, Any]]] = {variant: [] for variant in variants}
    for repeat in range(args.repeats):
        for variant in variants:
            result = measure_in_subprocess(variant, args.epochs, args.batch_size)
            runs[variant].append(result)
            print(f"repeat {repeat + 1}: {variant:>14}  fit {result['wall']:6.2f} s  median "
                  f"epoch {result['median_epoch'] * 1000:5.0f} ms  RSS growth "
                  f"{result['rss_growth_mb']:6.1f} MB  files {result['files']} (checked)",
                  flush=True)
    after, _ = load_line("after")
    best = {variant: {key: min(r[key] for r in runs[variant])
                      for key in ("wall", "median_epoch", "first_epoch", "cpu", "children_cpu")}
            for variant in variants}
    none = best["none"]
    print(f"\n{args.epochs} epochs, best of {args.repeats} interleaved runs each "
          f"(evaluator batch_size: {args.batch_size or 'default'}):")
    print(f"  {'':>14}  {'whole fit':>9}  {'epoch 1':>8}  {'median 2..N':>11}  "
          f"{'fit/none':>8}  {'epoch/none':>10}  CPU train + children")
    for variant in variants:
        b = best[variant]
        print(f"  {variant:>14}  {b['wall']:7.2f} s  {b['first_epoch'] * 1000:5.0f} ms  "
              f"{b['median_epoch'] * 1000:8.1f} ms  {b['wall'] / none['wall']:8.2f}  "
              f"{b['median_epoch'] / none['median_epoch']:10.2f}  "
              f"{b['cpu']:5.2f} + {b['children_cpu']:5.2f} s")
    if "epoch_eval" in variants:
        ee = best["epoch_eval"]
        print(f"  whole fit epoch_eval / none = {ee['wall'] / none['wall']:.2f}   "
              "(target <= 1.3)")
        if "naive" in variants:
            print(f"  whole fit naive / epoch_eval = {best['naive']['wall'] / ee['wall']:.2f}   "
                  "(target >= 3)")
        growth = max(r["rss_growth_mb"] for r in runs["epoch_eval"])
        print(f"  epoch_eval RSS growth (worst) = {growth:.1f} MB (target <= 40 MB)"
              + (f"; naive: {max(r['rss_growth_mb'] for r in runs['naive']):.1f} MB"
                 if "naive" in variants else ""))
        timed = min(runs["epoch_eval"], key=lambda r: r["wall"])
        print(f"  where epoch_eval's time goes (its best run): predicting and scoring "
              f"{timed['scoring_s']:.2f} s, waiting for the chart backlog "
              f"{timed['waiting_for_charts_s']:.2f} s")
    if "epoch_eval" in variants:
        child_mb = max(r["chart_process_mb"] for r in runs["epoch_eval"])
        best_run = min(runs["epoch_eval"], key=lambda r: r["wall"])
        print(f"  epoch_eval's chart process: RSS (peak) {child_mb:.1f} MB, CPU "
              f"{best_run['children_cpu']:.2f} s for {len(best_run['drawn'])} charts, its "
              f"start included ({len(best_run['chart_pids'])} process(es) in the run)")
    for variant in (v for v in CHARTED if v in variants):
        costs = {}
        for r in runs[variant]:
            for chart, epoch, seconds in r["drawn"]:
                costs.setdefault(chart, {}).setdefault(epoch > 1, []).append(seconds)
        what = ("drawing thread CPU" if variant == "thread_charts"
                else "wall-clock wait for the chart process")
        print(f"  per chart ({variant}, {what}): "
              + ", ".join(f"{chart} {np.median(c[True]) * 1000:.1f} ms (epoch 1 "
                          f"{np.median(c[False]) * 1000:.0f} ms)" for chart, c in costs.items()))
    print(before)
    print(after)
    # the load after counts this benchmark's own training and chart process (about 1.5 on
    # 2 cores): whether others were busy is read from the load before it started
    if load_before > 0.5 * (os.cpu_count() or 1):
        print(f"WARNING: the machine was busy before this run (1-min load average above "
              f"{0.5 * (os.cpu_count() or 1):.1f}): the ratios above are flattered and noisy; "
              "measure again on a quiet machine before quoting them.")
    print_chart_costs(digits_split()[3])
    if args.long:
        for variant in ("epoch_eval", "history_only"):
            long = measure_in_subprocess(variant, args.long, args.batch_size)
            print(f"\n{args.long} epochs with {variant}: {long['files']} files (checked), "
                  f"training process RSS growth {long['rss_growth_mb']:.1f} MB"
                  + (f", chart process RSS (peak) {long['chart_process_mb']:.1f} MB"
                     if variant == "epoch_eval" else ""))


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
