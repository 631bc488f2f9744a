"""What TensorBoardLogs, HtmlReport and JsonLines add to the per-epoch cost of PngFolder alone.

One setup, two ways, interleaved in one run: digits (scikit-learn's bundled set), a 64-32-10
MLP, `--epochs` epochs, `EpochEvaluator` with

- png: `HistoryLogs` + `PngFolder` (all three charts);
- all: the same plus `TensorBoardLogs`, `HtmlReport` and `JsonLines` (all three charts each).

Reported per epoch: wall time, and CPU time of the training process plus its children (the
chart processes), the best of `--repeats` (machines here are noisy). The ratio all / png is the
figure the issue sets: at most 1.10. The evaluator draws each epoch's charts once, on its
drawing thread, for every sink that asks.

Nothing is printed for work that was not done: after each fit, the benchmark checks that every
sink wrote every epoch (the PNG files, the TensorBoard scalars and images, the HTML page's
charts, the JSON lines) and that no epoch_eval warning was raised; otherwise it exits with
status 1, naming the variant and what is missing.

Second figure, the sinks' own cost once the charts are drawn once for every sink (the shared
renderer): the three sinks fed `--epochs` hand-made epochs whose chart PNGs are already drawn,
CPU time per epoch, against the same `fit()`'s png-only epoch CPU.

First figure, printed before the others: `HtmlReport` over a long run, alone, fed
`--long-epochs` (300) evaluations at 10 classes of `--long-rows` (10,000) rows each, with
Keras-like logs: the page's size after 10 epochs and at the end, the bytes it grew by per
epoch, and the CPU and wall time of one `write` (the median of the 10 epochs ending at epoch
10, and at the last epoch; the README's bound is at most twice). It is checked that the page
holds every epoch's three charts before anything is printed.

Run: python benchmarks/bench_sinks.py [--epochs 10] [--repeats 3] [--long-epochs 300]
     [--long-rows 10000] [--only-html]
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import resource
import sys
import tempfile
import time
import warnings
from collections import Counter
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # this epoch_eval

import keras
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from epoch_eval import (
    EpochEvaluator,
    HistoryLogs,
    HtmlReport,
    JsonLines,
    PngFolder,
    TensorBoardLogs,
)
from epoch_eval.charts import CHART_NAMES


class BenchmarkFailure(RuntimeError):
    """A variant did not do the work it is timed for."""


def check_outputs(variant: str, epochs: int, folder: str, *, png: bool = True) -> list[str]:
    """What the sinks of `variant` failed to write over `epochs` epochs (empty: all done)."""
    problems = []
    if png:
        names = {n for n in os.listdir(os.path.join(folder, "png")) if not n.startswith(".")}
        wanted = {f"{chart}_epoch_{epoch:03d}.png" for chart in CHART_NAMES
                  for epoch in range(1, epochs + 1)}
        if names != wanted:
            problems.append(f"PngFolder wrote {len(names)} of {len(wanted)} files "
                            f"(missing e.g. {sorted(wanted - names)[:3]})")
    if variant != "all":
        return problems
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

    tags: Counter[str] = Counter()
    for path in glob.glob(os.path.join(folder, "logs", "validation", "*.epoch_eval")):
        for event in EventFileLoader(path).Load():
            tags.update(value.tag for value in event.summary.value)
    short = {tag: tags[tag] for tag in ("epoch_f1", *(f"epoch_{c}" for c in CHART_NAMES))
             if tags[tag] != epochs}
    if short:
        problems.append(f"TensorBoardLogs: records per tag {short}, expected {epochs} each")
    charts = html_charts(os.path.join(folder, "report.html"))
    if charts != epochs * len(CHART_NAMES):
        problems.append(f"HtmlReport: {charts} charts in the page, expected "
                        f"{epochs * len(CHART_NAMES)}")
    lines_path = os.path.join(folder, "run.jsonl")
    lines = len(Path(lines_path).read_text().splitlines()) if os.path.exists(lines_path) else 0
    if lines != epochs:
        problems.append(f"JsonLines: {lines} lines, expected {epochs}")
    return problems


def html_charts(page: str) -> int:
    """How many charts the HTML page holds the data of, over all its epochs."""
    if not os.path.exists(page):
        return 0
    text = Path(page).read_text(encoding="utf-8")
    data = json.loads(text.split('id="epoch-data">')[1].split("</script>")[0])
    return sum(len(set(item["charts"]) & set(CHART_NAMES)) for item in data["epochs"])


def fail_unless(variant: str, problems: list[str], caught: list[warnings.WarningMessage]) -> None:
    """Raise `BenchmarkFailure` when a variant did not do its work or epoch_eval warned."""
    problems = problems + [f"warning: {w.message}" for w in caught
                           if issubclass(w.category, RuntimeWarning)
                           and "epoch_eval" in str(w.message)]
    if problems:
        raise BenchmarkFailure(f"{variant} did not do its work: " + "; ".join(problems))


def cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def one_fit(variant: str, epochs: int, data, folder: str) -> tuple[float, float]:
    x_train, y_train, x_val, y_val = data
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(32, activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    sinks = [HistoryLogs(), PngFolder(os.path.join(folder, "png"))]
    if variant == "all":
        sinks += [TensorBoardLogs(os.path.join(folder, "logs")),
                  HtmlReport(os.path.join(folder, "report.html")),
                  JsonLines(os.path.join(folder, "run.jsonl"))]
    evaluator = EpochEvaluator((x_val, y_val), sinks=sinks)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        wall, cpu = time.perf_counter(), cpu_seconds()
        history = model.fit(x_train, y_train, epochs=epochs, batch_size=32, verbose=0,
                            callbacks=[evaluator])
        wall, cpu = time.perf_counter() - wall, cpu_seconds() - cpu
    problems = check_outputs(variant, epochs, folder)
    if len(history.history.get("val_f1", [])) != epochs:
        problems.append(f"History has {len(history.history.get('val_f1', []))} val_f1 values, "
                        f"expected {epochs}")
    fail_unless(variant, problems, caught)
    return wall / epochs, cpu / epochs


class DrawnAlready:
    """`ChartRequests` whose PNGs were drawn beforehand, as a shared renderer hands them."""

    def __init__(self, pngs: dict[str, bytes]) -> None:
        self.pngs = pngs

    def request(self, names, deliver) -> None:
        deliver({name: self.pngs[name] for name in names})


def sinks_own_cpu(epochs: int, data, folder: str) -> float:
    """CPU seconds per epoch of the three sinks' own work, the charts drawn beforehand."""
    from epoch_eval import evaluate
    from epoch_eval.charts.render import CHART_NAMES, chart_png
    from epoch_eval.sinks.base import EpochResult

    x_train, y_train, x_val, y_val = data
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x_train, y_train, epochs=2, verbose=0)
    evaluation = evaluate(y_val, model.predict(x_val, verbose=0))
    pngs = {name: chart_png(name, evaluation, epoch=1) for name in CHART_NAMES}
    sinks = [TensorBoardLogs(os.path.join(folder, "logs")),
             HtmlReport(os.path.join(folder, "report.html")),
             JsonLines(os.path.join(folder, "run.jsonl"))]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for sink in sinks:
            sink.open()
        start = time.process_time()
        for epoch in range(1, epochs + 1):
            result = EpochResult(epoch, evaluation, {}, charts=DrawnAlready(pngs))
            for sink in sinks:
                sink.write(result)
        for sink in sinks:
            sink.close()
        cpu = (time.process_time() - start) / epochs
    fail_unless("the sinks alone", check_outputs("all", epochs, folder, png=False), caught)
    return cpu


def html_long_run(epochs: int, rows: int, folder: str) -> dict[str, float]:
    """`HtmlReport` alone fed `epochs` evaluations at 10 classes (`rows` rows, each epoch its
    own seed): the page's size, and the sink's CPU and wall time per `write`, the median of
    the 10 epochs ending at 10 and at `epochs`. Checked: the page holds every epoch's charts."""
    import numpy as np

    from epoch_eval import evaluate
    from epoch_eval.sinks.base import EpochResult

    evaluations = []
    for seed in range(epochs):
        rng = np.random.default_rng(seed)
        y = rng.integers(0, 10, rows)
        logits = rng.normal(size=(rows, 10))
        logits[np.arange(rows), y] += 3.0 * rng.random(rows)
        evaluations.append(evaluate(y, np.exp(logits) / np.exp(logits).sum(1, keepdims=True)))
    path = os.path.join(folder, "report.html")
    sink = HtmlReport(path)
    cpu: list[float] = []
    wall: list[float] = []
    sizes: dict[int, int] = {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sink.open()
        for epoch, evaluation in enumerate(evaluations, start=1):
            logs = {"loss": 1.0 / epoch, "val_loss": 1.1 / epoch, "learning_rate": 1e-3}
            result = EpochResult(epoch, evaluation, dict(logs), keras_logs=logs)
            start_cpu, start_wall = time.process_time(), time.perf_counter()
            sink.write(result)
            cpu.append(time.process_time() - start_cpu)
            wall.append(time.perf_counter() - start_wall)
            sizes[epoch] = os.path.getsize(path)
        sink.close()
    charts = html_charts(path)
    problems = [] if charts == epochs * len(CHART_NAMES) else [
        f"HtmlReport: {charts} charts in the page, expected {epochs * len(CHART_NAMES)}"]
    fail_unless("HtmlReport's long run", problems, caught)

    def median_at(times: list[float], epoch: int) -> float:
        return float(np.median(times[epoch - 10:epoch]))

    return {"size_10": sizes[10], "size_last": sizes[epochs],
            "cpu_10": median_at(cpu, 10), "cpu_last": median_at(cpu, epochs),
            "wall_10": median_at(wall, 10), "wall_last": median_at(wall, epochs)}


def main() -> None:
    try:
        run()
    except BenchmarkFailure as failure:
        print(f"BENCHMARK FAILED, no figure printed: {failure}", file=sys.stderr)
        sys.exit(1)


def run() -> None:
    """Measure and check both variants, then the sinks alone, and print the figures."""
    print("load average before: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()),
          f"({os.cpu_count()} cores)", flush=True)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--long-epochs", type=int, default=300,
                        help="epochs of HtmlReport's long run (10 classes)")
    parser.add_argument("--long-rows", type=int, default=10_000,
                        help="validation rows of each evaluation of the long run")
    parser.add_argument("--only-html", action="store_true",
                        help="measure HtmlReport's long run alone (no fit)")
    args = parser.parse_args()
    if args.long_epochs < 20:  # two windows of 10 epochs that do not overlap
        parser.error("--long-epochs: at least 20")
    with tempfile.TemporaryDirectory() as folder:
        long = html_long_run(args.long_epochs, args.long_rows, folder)
    last = args.long_epochs
    print(f"HtmlReport, 10 classes, {args.long_rows:,} rows: page {long['size_10'] / 1e3:.0f} KB "
          f"after 10 epochs, {long['size_last'] / 1e6:.2f} MB after {last} "
          f"({(long['size_last'] - long['size_10']) / (last - 10) / 1e3:.1f} KB/epoch; "
          "target: <= 50)")
    print(f"HtmlReport's write, median of 10 epochs: epoch 10 {long['cpu_10'] * 1e3:.1f} ms CPU "
          f"({long['wall_10'] * 1e3:.1f} wall), epoch {last} {long['cpu_last'] * 1e3:.1f} ms CPU "
          f"({long['wall_last'] * 1e3:.1f} wall): {long['cpu_last'] / long['cpu_10']:.2f}x CPU, "
          f"{long['wall_last'] / long['wall_10']:.2f}x wall (target: <= 2)", flush=True)
    if args.only_html:
        print_load()
        return
    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype("float32")
    x_train, x_val, y_train, y_val = train_test_split(x, y, test_size=0.25, random_state=0,
                                                      stratify=y)
    data = (x_train, y_train, x_val, y_val)
    best: dict[str, tuple[float, float]] = {}
    for _ in range(args.repeats):
        for variant in ("png", "all"):
            with tempfile.TemporaryDirectory() as folder:
                wall, cpu = one_fit(variant, args.epochs, data, folder)
            old = best.get(variant, (float("inf"), float("inf")))
            best[variant] = (min(old[0], wall), min(old[1], cpu))
    for variant, (wall, cpu) in best.items():
        print(f"{variant:>4}: {wall * 1000:7.1f} ms wall/epoch, {cpu * 1000:7.1f} ms CPU/epoch")
    own = float("inf")
    for _ in range(args.repeats):  # a fresh folder each time: each run's files are checked
        with tempfile.TemporaryDirectory() as folder:
            own = min(own, sinks_own_cpu(args.epochs, data, folder))
    print(f"the three sinks' own work, charts drawn once elsewhere: {own * 1000:.1f} ms "
          f"CPU/epoch = {own / best['png'][1]:.2f} of png's CPU/epoch (target: <= 0.10)")
    print(f"all / png: wall {best['all'][0] / best['png'][0]:.2f}, "
          f"CPU {best['all'][1] / best['png'][1]:.2f} (target: <= 1.10)")
    print_load()


def print_load() -> None:
    load = os.getloadavg()
    print("load average after: {:.2f} {:.2f} {:.2f}".format(*load), f"({os.cpu_count()} cores)")
    if load[0] > 0.5 * (os.cpu_count() or 1):
        print("WARNING: the machine was busy: these figures are flattered and noisy.")


if __name__ == "__main__":
    main()
