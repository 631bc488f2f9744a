"""`Notebook` and `Evaluation._repr_html_`: the view's content, its updates from the training
and the drawing thread, the warning outside a notebook, and the missing extra (no kernel here:
tests/test_notebook_kernel.py runs a real one)."""

from __future__ import annotations

import base64
import io
import os
import re
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import IPython
import IPython.display
import numpy as np
import pytest
from chart_evaluations import binary, multiclass, undefined
from PIL import Image
from sink_epochs import epochs

from epoch_eval import EpochResult, Notebook, evaluate
from epoch_eval.metrics import result as result_module
from epoch_eval.metrics.result import SCALAR_NAMES
from epoch_eval.sinks.notebook_html import evaluation_html, trend_svg
from epoch_eval.sinks.rendering import ChartRenderer

ROOT = Path(__file__).resolve().parents[1]


class FakeHandle:
    """An IPython display handle that keeps every bundle it is updated with, and the thread."""

    def __init__(self, bundle: dict) -> None:
        self.bundles = [bundle]
        self.threads = [threading.current_thread()]

    def update(self, bundle: dict, raw: bool = False) -> None:
        assert raw
        self.threads.append(threading.current_thread())
        self.bundles.append(bundle)

    @property
    def html(self) -> str:
        return self.bundles[-1]["text/html"]


@pytest.fixture
def kernel(monkeypatch) -> list[FakeHandle]:
    """As if in a notebook: `get_ipython()` has a kernel; each `display` makes a FakeHandle."""
    shown: list[FakeHandle] = []

    def display(bundle, raw=False, display_id=False):
        assert raw and display_id is True
        shown.append(FakeHandle(bundle))
        return shown[-1]

    monkeypatch.setattr(IPython, "get_ipython", lambda: type("Shell", (), {"kernel": object()})())
    monkeypatch.setattr(IPython.display, "display", display)
    return shown


def table(html: str) -> dict[str, str]:
    """The one-line table's cells, by metric (intervals dropped)."""
    cells = re.findall(r"<td [^>]*data-metric='([^']+)'>([^<]*)", html)
    return {name: value.strip() for name, value in cells}


def images(html: str) -> dict[str, tuple[str, Image.Image]]:
    """Each chart's `data-epoch` and its decoded PNG."""
    found = {}
    for tag in re.findall(r"<img [^>]*>", html):
        name = re.search(r"data-chart='(\w+)'", tag).group(1)
        epoch = re.search(r"data-epoch='(\d+)'", tag)
        data = re.search(r"src='data:image/png;base64,([^']+)'", tag).group(1)
        image = Image.open(io.BytesIO(base64.b64decode(data)))
        image.load()  # decodes every pixel: a truncated PNG raises
        found[name] = (epoch.group(1) if epoch else "", image)
    return found


def trend_points(html: str) -> dict[str, int]:
    """How many points each metric-vs-epoch line has, by metric."""
    found = {}
    for svg in re.findall(r"<svg class='epoch-eval-trend'.*?</svg>", html):
        name = re.search(r"aria-label='([^ ']+)", svg).group(1)
        line = re.search(r"<polyline points='([^']*)'", svg)
        found[name] = len(line.group(1).split()) if line else 0
    return found


def test_one_view_shows_the_last_epoch_its_values_lines_and_charts(kernel):
    sink = Notebook(metrics=(*SCALAR_NAMES, "churn", "loss", "val_loss"))
    sink.open()
    written = epochs("multiclass", 3, honest=True)
    for result in written:
        result.logs.update(loss=1.0 / result.epoch, val_loss=1.5 / result.epoch)
        sink.write(result)
    sink.close()
    assert len(kernel) == 1  # one output, updated in place
    handle = kernel[0]
    assert len(handle.bundles) == 1 + 2 * 3 + 1  # the placeholder, each epoch and its charts
    last = written[-1].evaluation
    assert "data-epoch='3'" in handle.html
    cells = table(handle.html)
    assert cells["epoch"] == "3"
    for name in SCALAR_NAMES:
        assert cells[name] == f"{getattr(last, name):.4f}"
    low, high = last.intervals["f1"]
    assert f"[{low:.4f}, {high:.4f}]" in handle.html
    assert cells["churn"] == f"{last.churn:.4f}"
    assert cells["loss"] == f"{1 / 3:.4f}" and cells["val_loss"] == "0.5000"
    assert handle.bundles[-1]["text/plain"].startswith("epoch_eval epoch 3: f1 ")
    points = trend_points(handle.html)
    assert points == {**{name: 3 for name in SCALAR_NAMES}, "churn": 2, "loss": 3,
                      "val_loss": 3}  # churn: none at epoch 1
    shown = images(handle.html)
    assert set(shown) == {"confusion_matrix", "roc_curve", "pr_curve"}
    for epoch, image in shown.values():
        assert epoch == "3" and image.format == "PNG" and min(image.size) > 100


def test_default_metrics_are_the_six_values_then_keras_loss_and_val_loss_when_logged(kernel):
    sink = Notebook(charts=())
    sink.open()
    for result in epochs("binary", 2):
        result.logs.update(loss=0.25, accuracy=0.5)  # no val_loss: fit had no validation_data
        sink.write(result)
    sink.close()
    assert list(table(kernel[0].html)) == ["epoch", *SCALAR_NAMES, "loss"]
    assert "<img" not in kernel[0].html


def test_charts_drawn_on_the_drawing_thread_update_the_view_during_fit(kernel):
    png = binary_png()
    renderer = ChartRenderer(draw=lambda name, evaluation, epoch: png)
    sink = Notebook(charts=("roc_curve",))
    sink.open()
    evaluation = binary()
    sink.write(EpochResult(1, evaluation, {}, renderer.charts_of(1, evaluation)))
    handle = kernel[0]
    deadline = time.monotonic() + 60
    while "<img" not in handle.html and time.monotonic() < deadline:
        time.sleep(0.01)  # waits on the condition; the bound is for a loaded machine
    assert images(handle.html)["roc_curve"][0] == "1"
    assert handle.threads[-1] is not threading.main_thread()  # shown as soon as drawn
    renderer.close()
    sink.close()
    assert handle.threads[-1] is threading.main_thread()  # and again at the end of fit


def binary_png() -> bytes:
    stream = io.BytesIO()
    Image.new("RGBA", (200, 150), (255, 255, 255, 255)).save(stream, format="PNG")
    return stream.getvalue()


def test_charts_of_the_previous_epoch_are_labelled_as_such(kernel):
    sink = Notebook(charts=("pr_curve",))
    sink.open()
    first, second = epochs("multiclass", 2)
    sink.write(first)  # drawn at once: no evaluator, so the charts come on this thread
    held = []
    second = EpochResult(2, second.evaluation, {}, type(
        "Later", (), {"request": lambda self, names, deliver: held.append(deliver)})())
    sink.write(second)
    assert "Charts of epoch 1; epoch 2" in kernel[0].html
    assert images(kernel[0].html)["pr_curve"][0] == "1"
    held[0]({"pr_curve": binary_png()})
    assert "Charts of epoch" not in kernel[0].html
    assert images(kernel[0].html)["pr_curve"][0] == "2"


def test_an_undefined_epoch_says_why(kernel):
    sink = Notebook()
    sink.open()
    sink.write(EpochResult(1, undefined(), {"loss": float("nan")}))
    sink.close()
    assert "the model predicted NaN" in kernel[0].html
    assert table(kernel[0].html)["f1"] == "nan"


def test_a_named_metric_missing_from_keras_logs_warns_once_and_shows_nan(kernel):
    sink = Notebook(charts=(), metrics=("f1", "val_acc"))
    sink.open()
    results = epochs("binary", 3)
    with pytest.warns(RuntimeWarning, match=r"'val_acc' not in Keras' logs.*loss"):
        results[0].logs["loss"] = 0.5
        sink.write(results[0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sink.write(results[1])
        sink.close()
    assert table(kernel[0].html)["val_acc"] == "nan"


def test_each_fit_gets_its_own_view(kernel):
    sink = Notebook(charts=())
    for count in (2, 3):
        sink.open()
        for result in epochs("binary", count):
            sink.write(result)
        sink.close()
    assert len(kernel) == 2
    assert trend_points(kernel[0].html)["f1"] == 2 and trend_points(kernel[1].html)["f1"] == 3


def test_outside_a_notebook_it_warns_once_and_shows_nothing(monkeypatch):
    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda *args, **kwargs: shown.append(args))
    assert IPython.get_ipython() is None  # pytest: no kernel
    sink = Notebook()
    with pytest.warns(RuntimeWarning, match="Jupyter notebook only"):
        sink.open()
    for result in epochs("multiclass", 2):
        sink.write(result)
    sink.close()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the second fit: no second warning
        sink.open()
        sink.write(epochs("binary", 1)[0])
        sink.close()
    assert shown == []


def test_without_ipython_construction_names_the_extra(monkeypatch):
    for name in [m for m in sys.modules if m == "IPython" or m.startswith("IPython.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "IPython", None)  # as if not installed
    with pytest.raises(ImportError, match=r"pip install 'epoch-eval\[notebook\]'"):
        Notebook()


@pytest.mark.parametrize("arguments, message", [
    ({"metrics": "f1"}, "sequence of names"),
    ({"metrics": ()}, "at least one"),
    ({"metrics": ("f1", "")}, "at least one non-empty"),
    ({"charts": ("histogram",)}, "Unknown chart name"),
])
def test_bad_arguments_are_refused_at_construction(arguments, message):
    with pytest.raises(ValueError, match=message):
        Notebook(**arguments)


# --- Evaluation._repr_html_ -----------------------------------------------------------------

def test_an_evaluation_renders_its_values_and_charts_in_a_notebook():
    evaluation = multiclass(4, n=300, confidence=0.95)
    page = evaluation._repr_html_()
    cells = table(page)
    for name in SCALAR_NAMES:
        assert cells[name] == f"{getattr(evaluation, name):.4f}"
        low, high = evaluation.intervals[name]
        assert f"[{low:.4f}, {high:.4f}]" in page
    assert "multiclass, 4 classes, 300 samples, macro average, 95% intervals" in page
    shown = images(page)
    assert set(shown) == {"confusion_matrix", "roc_curve", "pr_curve"}
    assert all(image.format == "PNG" and min(image.size) > 100 for _, image in shown.values())


def test_a_binary_evaluation_shows_its_best_threshold_and_an_undefined_one_its_reason():
    evaluation = evaluate([0, 1, 1, 0, 1, 0], [0.2, 0.9, 0.6, 0.4, 0.3, 0.1])
    assert table(evaluation_html(evaluation))["best_threshold"] == \
        f"{evaluation.best_threshold:.4f}"
    page = undefined()._repr_html_()
    assert "the model predicted NaN" in page and "<img" not in page


def test_the_html_view_is_set_from_above_so_metrics_imports_nothing_above_it(monkeypatch):
    monkeypatch.setattr(result_module, "_html_view", None)
    assert binary()._repr_html_() is None  # Jupyter then shows the plain repr
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, epoch_eval.metrics.result; print(sorted(m for m in "
         "('epoch_eval.sinks', 'epoch_eval.charts', 'matplotlib', 'IPython') "
         "if m in sys.modules))"], env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=ROOT,
        capture_output=True, text=True, timeout=120, check=True)
    assert loaded.stdout.strip() == "[]"


def test_a_long_run_s_lines_are_thinned_keeping_the_last_and_the_best_epoch():
    values = [0.5 + 0.1 * np.sin(epoch / 7) for epoch in range(1, 1001)]
    values[499] = 0.9  # the best epoch, 500, falls between kept ones
    svg = trend_svg("f1", list(enumerate(values, start=1)))
    points = re.search(r"<polyline points='([^']*)'", svg).group(1).split()
    assert len(points) <= 110 + 2
    assert "best 0.9000 at 500" in svg
    assert points[-1].startswith("214.0,")  # the last epoch, at the right end (220 - 6)
    best = re.search(r"<circle cx='([\d.]+)' cy='([\d.]+)'", svg).groups()
    assert ",".join(best) in points


def test_in_a_fit_the_last_view_shows_the_last_epoch_and_its_charts(kernel, digits):
    from conftest import mlp

    from epoch_eval import EpochEvaluator

    x_train, y_train, x_val, y_val = digits
    model = mlp(64, 10)
    model.fit(x_train, y_train, epochs=3, batch_size=128, verbose=0,
              validation_data=(x_val, y_val),
              callbacks=[EpochEvaluator((x_val, y_val), sinks=[Notebook()])])
    assert len(kernel) == 1
    cells = table(kernel[0].html)
    assert cells["epoch"] == "3" and "val_loss" in cells
    assert {epoch for epoch, _ in images(kernel[0].html).values()} == {"3"}
    assert kernel[0].threads[-1] is threading.current_thread()  # sent while fit runs


def test_a_view_that_cannot_be_updated_warns_once_and_training_goes_on(kernel):
    sink = Notebook(charts=("roc_curve",))
    sink.open()

    def gone(bundle, raw=False):  # as when the kernel's channel is closed
        raise OSError("socket closed")

    kernel[0].update = gone
    with pytest.warns(RuntimeWarning, match=r"could not update its view \(OSError: socket"):
        sink.write(epochs("binary", 1)[0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for result in epochs("binary", 3)[1:]:
            sink.write(result)
        sink.close()
    assert len(kernel[0].bundles) == 1  # the placeholder only
