"""`HtmlReport`: one self-contained HTML page of every evaluated epoch, with an epoch slider."""

from __future__ import annotations

import html
import json
import math
import numbers
import os
import tempfile
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, NamedTuple

from epoch_eval.atomic_file import write_atomically
from epoch_eval.charts.chart_data import chart_data
from epoch_eval.metrics.result import SCALAR_NAMES, Evaluation
from epoch_eval.sinks.base import EpochResult, Sink
from epoch_eval.sinks.html_page import PAGE, SCRIPT, STYLE
from epoch_eval.sinks.metric_direction import lower_is_better

KERAS_SUFFIX = " (Keras)"
"""Appended to the name of a metric-vs-epoch chart of one of Keras' own logs."""


class _Point(NamedTuple):
    """One epoch of a metric-vs-epoch chart: the value, its interval (the value itself when
    there is none), and the SVG points of the line and the band's top and bottom, written
    "epoch,-value" (see `_trend_svg`), "" without an interval."""

    epoch: int
    value: float
    low: float
    high: float
    line: str
    top: str
    bottom: str


@dataclass
class _Epoch:
    """One epoch of the page, with its parts serialised once and kept."""

    epoch: int
    evaluation: Evaluation
    live_logs: Mapping[str, Any]  # Keras' dict, to which later callbacks may still add keys
    ours: frozenset[str]  # keys of `live_logs` that are not Keras' (epoch_eval's sinks' keys)
    keras: dict[str, float] = field(default_factory=dict)
    json: bytes | None = None  # this epoch's part of the page's data, UTF-8
    points: dict[str, _Point | None] = field(default_factory=dict)

    def encoded(self) -> bytes:
        """This epoch's data as JSON safe inside an inline script, encoded once."""
        if self.json is None:
            # "</" cannot end the inline script early once escaped as "<\/".
            text = json.dumps(_epoch_data(self), allow_nan=False, separators=(",", ":"))
            self.json = text.replace("</", "<\\/").encode("ascii")
        return self.json

    def trend_point(self, name: str) -> _Point | None:
        """This epoch's point of one metric-vs-epoch chart, formatted once; None without a
        value."""
        if name not in self.points:
            value = self.value(name)
            point = None
            if math.isfinite(value):
                low, high = _trend_band(self.evaluation, name)
                band = math.isfinite(low) and math.isfinite(high)
                point = _Point(self.epoch, value, low if band else value,
                               high if band else value, f"{self.epoch},{-value:.6g}",
                               f"{self.epoch},{-high:.6g}" if band else "",
                               f"{self.epoch},{-low:.6g}" if band else "")
            self.points[name] = point
        return self.points[name]

    def value(self, name: str) -> float:
        if name.endswith(KERAS_SUFFIX):
            return self.keras.get(name.removesuffix(KERAS_SUFFIX), math.nan)
        value = getattr(self.evaluation, name, None)
        return math.nan if value is None else float(value)

    def refresh_logs(self) -> bool:
        """Re-read Keras' logs (a callback listed after the evaluator, such as
        `ReduceLROnPlateau`, adds `learning_rate` after the sinks ran); True if they changed."""
        keras = {**self.keras, **{key: float(value) for key, value in self.live_logs.items()
                                  if key not in self.ours and _is_number(value)}}
        changed = keras != self.keras
        if changed:
            self.keras = keras
            self.json = None
            self.points = {}
        return changed


class _TrendPoints:
    """Each metric-vs-epoch chart's points, kept in epoch order and extended as epochs come:
    an epoch added after the others costs one point a chart, not a pass over every epoch."""

    def __init__(self) -> None:
        self._epochs: list[_Epoch] = []
        self._points: dict[str, list[_Point]] = {}

    def update(self, epochs: Sequence[_Epoch]) -> None:
        """Follow `epochs` (sorted): extend the kept points, or start over when an epoch was
        replaced or inserted before the last."""
        kept = len(self._epochs)
        if kept > len(epochs) or any(a is not b for a, b in zip(self._epochs, epochs[:kept],
                                                                strict=True)):
            self._epochs, self._points, kept = [], {}, 0
        for item in epochs[kept:]:
            for name, points in self._points.items():
                if (point := item.trend_point(name)) is not None:
                    points.append(point)
        self._epochs = list(epochs)

    def forget(self, item: _Epoch) -> None:
        """Drop `item`'s points (its values changed); `update` adds them again."""
        if self._epochs and self._epochs[-1] is item:
            self._epochs.pop()
            for points in self._points.values():
                if points and points[-1].epoch == item.epoch:
                    points.pop()
        else:
            self._epochs, self._points = [], {}

    def of(self, name: str) -> list[_Point]:
        """The points of chart `name`, in epoch order (epochs without a value left out)."""
        if name not in self._points:
            self._points[name] = [point for item in self._epochs
                                  if (point := item.trend_point(name)) is not None]
        return self._points[name]


class HtmlReport(Sink):
    """Keep one HTML file that shows every evaluated epoch, rewritten after each epoch.

    The page needs no network (data, script and style are inline), opens from `file://` and
    can be mailed. It shows the run's settings, a metric-vs-epoch chart of every headline
    value with the best epoch marked (and its interval as a translucent band, when the
    evaluations have intervals; churn gets its own chart when present), one of each numeric
    log of Keras (`loss`, `val_loss`, compiled metrics, `learning_rate` when logged), and one
    epoch slider that switches the confusion matrix, ROC, precision-recall charts, the values
    (`0.9644 [0.9480, 0.9781]` with intervals; churn and a binary task's best threshold when
    present) and the per-class table together; it opens on the latest epoch. The charts are
    drawn by the page from each epoch's numbers (the shown matrix cells, curves simplified to
    under a pixel), so the page grows by a few kilobytes an epoch and asks no chart of the
    renderer. Each epoch's data is serialised once; the file is replaced atomically, so it can
    be reloaded while training runs.

    Args:
        path: the HTML file; its folder is created in `on_train_begin` if missing.
        title: the page's title.
    """

    waits_for_epoch_line: ClassVar[bool] = False  # prints nothing: written at the epoch's end

    def __init__(self, path: str | os.PathLike[str], *, title: str = "epoch_eval report") -> None:
        self.path = Path(path)
        self.title = title
        self._epochs: dict[int, _Epoch] = {}
        self._latest: _Epoch | None = None
        self._trends = _TrendPoints()
        self._lock = threading.Lock()

    def output_files(self) -> tuple[str, ...]:
        """The file this sink writes."""
        return (str(self.path.absolute()),)

    def open(self) -> None:
        """Create the folder and check that the page can be written.

        Raises:
            OSError: if the path is a folder, or its folder cannot be created or written.
        """
        if self.path.is_dir():
            raise IsADirectoryError(f"HtmlReport: {str(self.path)!r} is a folder; pass the path "
                                    "of a file such as 'report.html'.")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=self.path.parent, prefix=".epoch_eval_probe_"):
            pass
        with self._lock:
            self._epochs = {}
            self._latest = None
            self._trends = _TrendPoints()

    def write(self, result: EpochResult) -> None:
        """Add the epoch and rewrite the page."""
        keras = dict(result.keras_logs)
        ours = frozenset(key for key in result.logs if key not in keras)
        item = _Epoch(result.epoch, result.evaluation, result.logs, ours, keras)
        with self._lock:
            if self._latest is not None and self._latest.refresh_logs():
                self._trends.forget(self._latest)
            self._epochs[result.epoch] = self._latest = item
            self._rewrite()

    def close(self) -> None:
        """Rewrite the page if the latest epoch's Keras logs gained keys since it was written."""
        with self._lock:
            if self._latest is not None and self._latest.refresh_logs():
                self._trends.forget(self._latest)
                self._rewrite()

    def _rewrite(self) -> None:
        """Write the page to a temporary file beside `path`, then rename it over `path`."""
        epochs = [self._epochs[k] for k in sorted(self._epochs)]
        self._trends.update(epochs)
        write_atomically(self.path, render_page(self.title, epochs, self._trends))


_PAYLOAD = "\0payload\0"  # where the epochs' data goes in the formatted page


def render_page(title: str, epochs: Sequence[_Epoch],
                trends: _TrendPoints | None = None) -> list[bytes]:
    """The whole HTML document for `epochs` (sorted by epoch), UTF-8, as parts to write one
    after the other: each epoch's data, serialised once and kept, and the page around it (so
    the page is never copied whole). `trends`: the kept points, up to date with `epochs`."""
    if trends is None:
        trends = _TrendPoints()
        trends.update(epochs)
    last = epochs[-1].evaluation if epochs else None
    head, _, tail = PAGE.format(
        title=html.escape(title),
        settings=_settings_html(last, len(epochs)),
        trends="".join(_trend_svg(name, epochs, trends.of(name))
                       for name in _trend_names(epochs)),
        max_index=max(len(epochs) - 1, 0),
        payload=_PAYLOAD,
        script=SCRIPT,
        style=STYLE,
    ).rpartition(_PAYLOAD)  # the last: only the script comes after it
    chunks = [(head + '{"epochs":[').encode("utf-8")]
    for index, item in enumerate(epochs):
        if index:
            chunks.append(b",")
        chunks.append(item.encoded())
    chunks.append(("]}" + tail).encode("utf-8"))
    return chunks


def _is_number(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _number(value: float) -> str:
    return "nan" if math.isnan(value) else f"{value:.4f}"


def _keras_number(value: float) -> str:
    """Keras' values, whose scale is anything (a loss of 1,500, a learning rate of 1e-5)."""
    return f"{value:.4g}"


def _interval(low: float, high: float) -> str:
    return f"[{_number(low)}, {_number(high)}]"


def _trend_names(epochs: Sequence[_Epoch]) -> list[str]:
    names = list(SCALAR_NAMES)
    if any(getattr(item.evaluation, "roc_auc_error_bound", 0.0) > 0 for item in epochs):
        names.append("roc_auc_error_bound")
    if any(item.evaluation.churn is not None for item in epochs):
        names.append("churn")
    keras: dict[str, None] = {}  # Keras' keys in the order they first appear
    for item in epochs:
        keras.update(dict.fromkeys(item.keras))
    return names + [key + KERAS_SUFFIX for key in keras]


def _trend_band(evaluation: Evaluation, name: str) -> tuple[float, float]:
    """The interval of `name` at this epoch; nan, nan when there is none."""
    low, high = (evaluation.intervals or {}).get(name, (math.nan, math.nan))
    return float(low), float(high)


_BEST_THRESHOLD_FIELDS = ("best_threshold", "f1_at_best_threshold",
                          "f1_at_best_threshold_heldout")


def _epoch_data(item: _Epoch) -> dict[str, Any]:
    evaluation = item.evaluation
    scalars = {name: _number(getattr(evaluation, name)) for name in SCALAR_NAMES}
    bound = getattr(evaluation, "roc_auc_error_bound", 0.0)
    if bound > 0:
        scalars["roc_auc"] += f" \u00b1 {_number(bound)}"
    for name, (low, high) in (evaluation.intervals or {}).items():
        if name in scalars:
            scalars[name] += " " + _interval(low, high)
    if evaluation.churn is not None:
        scalars["churn"] = _number(evaluation.churn)
    if evaluation.task == "binary":
        for name in _BEST_THRESHOLD_FIELDS:
            value = getattr(evaluation, name)
            if value is not None:
                scalars[name] = _number(float(value))
    auc = {curve.label: curve.auc for curve in evaluation.roc_curves}
    ap = {curve.label: curve.average_precision for curve in evaluation.pr_curves}
    per_class = evaluation.per_class
    bands = evaluation.per_class_intervals or {}

    def cell(metric: str, i: int) -> str:
        text = _number(getattr(per_class, metric)[i])
        if metric in bands:
            text += " " + _interval(bands[metric][i][0], bands[metric][i][1])
        return text

    rows = [
        [name, cell("precision", i), cell("recall", i), cell("f1", i),
         f"{float(per_class.support[i]):g}",
         _number(auc[name]) if name in auc else "-", _number(ap[name]) if name in ap else "-"]
        for i, name in enumerate(per_class.names)
    ]
    confidence = (f"{evaluation.confidence:.0%}" if evaluation.intervals
                  and evaluation.confidence is not None else None)
    pairs = [[pair.true, pair.predicted, f"{pair.count:g}", f"{pair.rate:.1%}"]
             for pair in evaluation.confused_pairs(10)]
    logs = {key: _keras_number(value) for key, value in item.keras.items()}
    return {"epoch": item.epoch, "scalars": scalars, "rows": rows, "pairs": pairs,
            "undefined": evaluation.undefined_reason, "confidence": confidence,
            "logs": logs, "charts": chart_data(evaluation)}


def _settings_html(evaluation: Evaluation | None, count: int) -> str:
    if evaluation is None:
        return "<p>No epoch evaluated yet.</p>"
    names = ", ".join(evaluation.class_names)
    items = [("task", evaluation.task), ("classes", f"{len(evaluation.class_names)}: {names}"),
             ("threshold", f"{evaluation.threshold:g}"), ("average", evaluation.average),
             ("samples", str(evaluation.n_samples)), ("epochs evaluated", str(count))]
    return "<dl id='settings'>" + "".join(
        f"<dt>{key}</dt><dd>{html.escape(value)}</dd>" for key, value in items) + "</dl>"


def _trend_svg(name: str, epochs: Sequence[_Epoch], present: Sequence[_Point],
               width: int = 300, height: int = 150) -> str:
    """A small SVG line chart of one value against the epoch, the best epoch circled, and the
    value's interval drawn as a translucent band where the evaluations have one.

    The line and the band are written in data units, "epoch,-value" (SVG's y grows
    downwards), each point formatted once per epoch, and placed by one `transform`: a new
    epoch that moves the axes' range changes that transform, not the points.
    """
    label_name = html.escape(name)
    left, right, top, bottom = 40, 10, 22, 22
    if not present:
        return (f"<figure class='trend'><svg width='{width}' height='{height}' role='img' "
                f"aria-label='{label_name}: no value'><text x='10' y='20'>{label_name}: nan"
                "</text></svg></figure>")
    values = [point.value for point in present]
    low = min(min(point.low for point in present), min(values))
    high = max(max(point.high for point in present), max(values))
    if high - low < 1e-9 * max(1.0, abs(high)):
        low, high = low - 0.05 * max(1.0, abs(low)), high + 0.05 * max(1.0, abs(high))
    high_tick, low_tick = _tick(high), _tick(low)
    left = max(left, 8 + 6 * max(len(high_tick), len(low_tick)))  # 10-px digits fit
    first, last = epochs[0].epoch, epochs[-1].epoch
    x_scale = (width - left - right) / max(last - first, 1)
    y_scale = (height - top - bottom) / (high - low)
    place = (f"matrix({x_scale:.6g} 0 0 {y_scale:.6g} {left - first * x_scale:.6g} "
             f"{top + high * y_scale:.6g})")
    base = name.removesuffix(KERAS_SUFFIX)
    number = _number if base == name else _keras_number
    if base == "lr" or base.startswith("learning_rate"):  # no best learning rate: the latest
        best = present[-1]
        label = f"{label_name}: {number(best.value)} at epoch {best.epoch}"
    else:
        lower = lower_is_better(base)
        best = present[values.index((min if lower else max)(values))]
        label = f"{label_name}: best {number(best.value)} at epoch {best.epoch}"
    best_x = left + (best.epoch - first) * x_scale
    best_y = top + (high - best.value) * y_scale
    # a long label (a Keras name, a small learning rate) is squeezed into the chart's width
    fit = (f" textLength='{width - 8}' lengthAdjust='spacingAndGlyphs'"
           if len(html.unescape(label)) > 44 else "")
    line = " ".join([point.line for point in present])
    band = ""
    if any(point.top for point in present):
        confidence = next((f"{item.evaluation.confidence:.0%} " for item in reversed(epochs)
                           if item.evaluation.confidence is not None), "")
        outline = ([point.top for point in present if point.top]
                   + [point.bottom for point in reversed(present) if point.bottom])
        band = (f"<polygon points='{' '.join(outline)}' class='band' transform='{place}'>"
                f"<title>{label_name}: {confidence}interval</title></polygon>")
    return (
        f"<figure class='trend'><svg width='{width}' height='{height}' role='img' "
        f"aria-label='{label}'><text x='4' y='14' class='label'{fit}>{label}</text>"
        f"<line x1='{left}' y1='{height - bottom}' x2='{width - right}' y2='{height - bottom}' "
        f"class='axis'/><line x1='{left}' y1='{top}' x2='{left}' y2='{height - bottom}' "
        f"class='axis'/><text x='{left - 4}' y='{top + 4}' class='tick' text-anchor='end'>"
        f"{high_tick}</text><text x='{left - 4}' y='{height - bottom}' class='tick' "
        f"text-anchor='end'>{low_tick}</text><text x='{left}' y='{height - 6}' class='tick'>"
        f"{first}</text><text x='{width - right}' y='{height - 6}' class='tick' "
        f"text-anchor='end'>epoch {last}</text>{band}<polyline points='{line}' class='series' "
        f"transform='{place}'/><circle cx='{best_x:.1f}' cy='{best_y:.1f}' r='5' class='best'>"
        f"<title>{label}</title></circle></svg></figure>"
    )


def _tick(value: float) -> str:
    """An axis end: 2 decimals for values of the unit range, whole numbers from 100, and
    2 significant digits below 0.01 (a learning rate), short enough for the margin."""
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.2f}" if abs(value) >= 0.01 or value == 0 else f"{value:.2g}"
