"""What TensorBoardLogs, HtmlReport and JsonLines add to the per-epoch cost of PngFolder alone.

One setup, two ways, interleaved in one run: digits (scikit-learn's bundled set), a 64-32-10
MLP, `--epochs` epochs, `EpochEvaluator` with

- png: `HistoryLogs` + `PngFolder` (all three charts);
- all: the same plus `TensorBoardLogs`, `HtmlReport` and `JsonLines` (all three charts each).

Reported per epoch: wall time, and CPU time of the training process plus its children (the
chart processes), the best of `--repeats` (machines here are noisy). The ratio all / png is the
figure the issue sets: at most 1.10. While sinks draw through `DrawNow` (no shared off-thread
renderer yet), the three sinks' charts are drawn on the training thread, once for the three of
them, and PngFolder draws its own in its processes.

Second figure, the sinks' own cost once the charts are drawn once for every sink (the shared
renderer): the three sinks fed `--epochs` hand-made epochs whose chart PNGs are already drawn,
CPU time per epoch, against the same `fit()`'s png-only epoch CPU.

Run: python benchmarks/bench_sinks.py [--epochs 10] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

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
    wall, cpu = time.perf_counter(), cpu_seconds()
    model.fit(x_train, y_train, epochs=epochs, batch_size=32, verbose=0, callbacks=[evaluator])
    return (time.perf_counter() - wall) / epochs, (cpu_seconds() - cpu) / epochs


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
    for sink in sinks:
        sink.open()
    start = time.process_time()
    for epoch in range(1, epochs + 1):
        result = EpochResult(epoch, evaluation, {}, charts=DrawnAlready(pngs))
        for sink in sinks:
            sink.write(result)
    for sink in sinks:
        sink.close()
    return (time.process_time() - start) / epochs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
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
    with tempfile.TemporaryDirectory() as folder:
        own = min(sinks_own_cpu(args.epochs, data, folder) for _ in range(args.repeats))
    print(f"the three sinks' own work, charts drawn once elsewhere: {own * 1000:.1f} ms "
          f"CPU/epoch = {own / best['png'][1]:.2f} of png's CPU/epoch (target: <= 0.10)")
    print(f"all / png: wall {best['all'][0] / best['png'][0]:.2f}, "
          f"CPU {best['all'][1] / best['png'][1]:.2f} (target: <= 1.10)")


if __name__ == "__main__":
    main()
