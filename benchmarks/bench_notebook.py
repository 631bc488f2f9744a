"""What the `Notebook` sink itself costs per epoch, beside the charts it shows.

The sink is fed `--epochs` hand-made epochs of a 10-class evaluation whose three chart PNGs are
drawn beforehand (as the evaluator's drawing thread hands them over), with Keras' `loss` and
`val_loss` in the logs; its display handle serialises each update as JSON, as the kernel does
before sending it (no kernel runs here: the send itself is the kernel's IOPub thread's). Each
epoch is two updates: at the epoch's end and when its charts arrive.

Reported: CPU ms of the sink per epoch over the first 10 and the last 10 epochs (the lines grow
with the epochs), against the CPU ms of drawing the same three charts on kept figures
(`FastCharts`, what every chart sink pays, measured in the same run), and the CPU ms of one
`Evaluation._repr_html_` (three fresh figures).

Run: python benchmarks/bench_notebook.py [--epochs 300]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # this epoch_eval

import IPython
import IPython.display
import numpy as np

from epoch_eval import EpochResult, Notebook, evaluate
from epoch_eval.charts import CHART_NAMES
from epoch_eval.charts.fast import FastCharts


class JsonHandle:
    """A display handle that serialises each update as the kernel's session does."""

    def update(self, bundle: dict, raw: bool = False) -> None:
        json.dumps({"data": bundle, "metadata": {}, "transient": {"display_id": "x"}})


class Drawn:
    """`ChartRequests` whose PNGs are already drawn: delivered at once, on this thread."""

    def __init__(self, pngs: dict[str, bytes]) -> None:
        self.pngs = pngs

    def request(self, names, deliver) -> None:
        deliver({name: self.pngs[name] for name in names})


def evaluation_of(epoch: int):
    rng = np.random.default_rng(epoch)
    y = rng.integers(0, 10, 2000)
    logits = rng.normal(size=(2000, 10))
    logits[np.arange(2000), y] += 3.0 * rng.random(2000)
    scores = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return evaluate(y, scores, class_names=[f"class_{k}" for k in range(10)], confidence=0.95)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=300)
    epochs = parser.parse_args().epochs
    evaluations = [evaluation_of(k) for k in range(3)]
    charts = FastCharts()
    drawn, chart_cpu = [], []
    for epoch in range(1, 12):
        start = time.process_time()
        drawn.append({name: charts.png(name, evaluations[epoch % 3], epoch)
                      for name in CHART_NAMES})
        chart_cpu.append(time.process_time() - start)
    chart_ms = 1000 * float(np.median(chart_cpu[1:]))  # after the first epoch's full draw

    IPython.get_ipython = lambda: type("Shell", (), {"kernel": object()})()  # as in a kernel
    IPython.display.display = lambda *args, **kwargs: JsonHandle()
    sink = Notebook()
    sink.open()
    cpu = []
    for epoch in range(1, epochs + 1):
        result = EpochResult(epoch, evaluations[epoch % 3],
                             {"loss": 1 / epoch, "val_loss": 1.2 / epoch},
                             Drawn(drawn[epoch % len(drawn)]))  # type: ignore[arg-type]
        start = time.process_time()
        sink.write(result)
        cpu.append(time.process_time() - start)
    sink.close()
    first, last = 1000 * float(np.mean(cpu[:10])), 1000 * float(np.mean(cpu[-10:]))

    start = time.process_time()
    evaluations[0]._repr_html_()
    repr_ms = 1000 * (time.process_time() - start)
    print(f"Notebook, 10 classes, 3 charts, 8 lines, CPU ms per epoch (two updates): "
          f"epochs 1-10 {first:.2f}, epochs {epochs - 9}-{epochs} {last:.2f}; drawing the "
          f"three charts on kept figures {chart_ms:.1f} (sink / charts: {first / chart_ms:.3f} "
          f"and {last / chart_ms:.3f}); Evaluation._repr_html_ {repr_ms:.0f}")


if __name__ == "__main__":
    main()
