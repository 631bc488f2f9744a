"""`HtmlReport`: one self-contained HTML page of every evaluated epoch, with an epoch slider."""

from __future__ import annotations

import base64
import html
import json
import math
import os
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from epoch_eval.atomic_file import write_atomically
from epoch_eval.charts.render import CHART_NAMES
from epoch_eval.metrics.result import SCALAR_NAMES, Evaluation
from epoch_eval.sinks.base import EpochResult, Sink

CHART_TITLES = {"confusion_matrix": "Confusion matrix", "roc_curve": "ROC",
                "pr_curve": "Precision-recall"}


@dataclass
class _Epoch:
    epoch: int
    evaluation: Evaluation
    images: dict[str, str] = field(default_factory=dict)  # chart name -> base64 PNG
    json: str | None = None  # this epoch's part of the page's data, kept until images change

    def encoded(self) -> str:
        """This epoch's data as JSON safe inside an inline script, encoded once."""
        if self.json is None:
            # "</" cannot end the inline script early once escaped as "<\/".
            self.json = json.dumps(_epoch_data(self), allow_nan=False,
                                   separators=(",", ":")).replace("</", "<\\/")
        return self.json


class HtmlReport(Sink):
    """Keep one HTML file that shows every evaluated epoch, rewritten after each epoch.

    The page needs no network (data and PNG charts are inline), opens from `file://` and can
    be mailed. It shows the run's settings, a metric-vs-epoch chart of every headline value
    with the best epoch marked (and its interval as a translucent band, when the evaluations
    have intervals; churn gets its own chart when present), and one epoch slider that
    switches the confusion matrix, ROC, precision-recall charts, the values
    (`0.9644 [0.9480, 0.9781]` with intervals; churn and a binary task's best threshold when
    present) and the per-class table together; it opens on the latest epoch. The file is
    replaced atomically, so it can be reloaded while training runs.

    Args:
        path: the HTML file; its folder is created in `on_train_begin` if missing.
        title: the page's title.
    """

    waits_for_epoch_line: ClassVar[bool] = False  # prints nothing: written at the epoch's end

    def __init__(self, path: str | os.PathLike[str], *, title: str = "epoch_eval report") -> None:
        self.path = Path(path)
        self.title = title
        self.draws_charts = True
        self._epochs: dict[int, _Epoch] = {}
        self._stale = False  # an epoch was added since the page was last written
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
            self._stale = False

    def write(self, result: EpochResult) -> None:
        """Add the epoch; the page is rewritten once its charts arrive (at once when it has
        none), or at `close()` if they never do."""
        epoch = result.epoch
        with self._lock:
            self._epochs[epoch] = _Epoch(epoch, result.evaluation)
            self._stale = True
            if not result.evaluation.is_defined:  # no charts will come
                self._rewrite()

        def deliver(pngs: dict[str, bytes]) -> None:
            encoded = {name: base64.b64encode(png).decode("ascii") for name, png in pngs.items()}
            with self._lock:
                if epoch in self._epochs:
                    item = self._epochs[epoch]
                    item.images.update(encoded)
                    item.json = None
                    self._rewrite()

        result.charts.request(CHART_NAMES, deliver)

    def close(self) -> None:
        with self._lock:
            if self._epochs and self._stale:
                self._rewrite()

    def _rewrite(self) -> None:
        """Write the page to a temporary file beside `path`, then rename it over `path`."""
        page = render_page(self.title, [self._epochs[k] for k in sorted(self._epochs)])
        self._stale = False
        write_atomically(self.path, page.encode("utf-8"))


def render_page(title: str, epochs: Sequence[_Epoch]) -> str:
    """The whole HTML document for `epochs` (sorted by epoch)."""
    payload = '{"epochs":[' + ",".join(item.encoded() for item in epochs) + "]}"
    last = epochs[-1].evaluation if epochs else None
    return _PAGE.format(
        title=html.escape(title),
        settings=_settings_html(last, len(epochs)),
        trends="".join(_trend_svg(name, epochs) for name in _trend_names(epochs)),
        max_index=max(len(epochs) - 1, 0),
        payload=payload,
        script=_SCRIPT,
        style=_STYLE,
    )


def _number(value: float) -> str:
    return "nan" if math.isnan(value) else f"{value:.4f}"


def _interval(low: float, high: float) -> str:
    return f"[{_number(low)}, {_number(high)}]"


def _trend_names(epochs: Sequence[_Epoch]) -> list[str]:
    names = list(SCALAR_NAMES)
    if any(getattr(item.evaluation, "roc_auc_error_bound", 0.0) > 0 for item in epochs):
        names.append("roc_auc_error_bound")
    if any(item.evaluation.churn is not None for item in epochs):
        names.append("churn")
    return names


def _trend_value(evaluation: Evaluation, name: str) -> float:
    value = getattr(evaluation, name, None)
    return math.nan if value is None else float(value)


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
    return {"epoch": item.epoch, "scalars": scalars, "rows": rows, "pairs": pairs,
            "undefined": evaluation.undefined_reason, "confidence": confidence,
            "images": {name: item.images[name] for name in CHART_NAMES if name in item.images}}


def _settings_html(evaluation: Evaluation | None, count: int) -> str:
    if evaluation is None:
        return "<p>No epoch evaluated yet.</p>"
    names = ", ".join(evaluation.class_names)
    items = [("task", evaluation.task), ("classes", f"{len(evaluation.class_names)}: {names}"),
             ("threshold", f"{evaluation.threshold:g}"), ("average", evaluation.average),
             ("samples", str(evaluation.n_samples)), ("epochs evaluated", str(count))]
    return "<dl id='settings'>" + "".join(
        f"<dt>{key}</dt><dd>{html.escape(value)}</dd>" for key, value in items) + "</dl>"


def _trend_svg(name: str, epochs: Sequence[_Epoch], width: int = 300, height: int = 150) -> str:
    """A small SVG line chart of one value against the epoch, the best epoch circled, and the
    value's interval drawn as a translucent band where the evaluations have one."""
    points = [(item.epoch, _trend_value(item.evaluation, name)) for item in epochs]
    finite = [(e, v) for e, v in points if math.isfinite(v)]
    bands = [(item.epoch, *_trend_band(item.evaluation, name)) for item in epochs]
    bands = [(e, lo, hi) for e, lo, hi in bands if math.isfinite(lo) and math.isfinite(hi)]
    left, right, top, bottom = 40, 10, 22, 22
    if not finite:
        return (f"<figure class='trend'><svg width='{width}' height='{height}' role='img' "
                f"aria-label='{name}: no value'><text x='10' y='20'>{name}: nan</text></svg>"
                "</figure>")
    low = min([v for _, v in finite] + [lo for _, lo, _ in bands])
    high = max([v for _, v in finite] + [hi for _, _, hi in bands])
    if high - low < 1e-9:
        low, high = low - 0.05, high + 0.05
    first, last = points[0][0], points[-1][0]
    span = max(last - first, 1)

    def x(epoch: int) -> float:
        return left + (epoch - first) / span * (width - left - right)

    def y(value: float) -> float:
        return top + (high - value) / (high - low) * (height - top - bottom)

    lower_is_better = name in ("roc_auc_error_bound", "churn")
    best = (min if lower_is_better else max)(finite, key=lambda pair: pair[1])
    line = " ".join(f"{x(e):.1f},{y(v):.1f}" for e, v in finite)
    label = f"{name}: best {_number(best[1])} at epoch {best[0]}"
    band = ""
    if bands:
        confidence = next((f"{item.evaluation.confidence:.0%} " for item in reversed(epochs)
                           if item.evaluation.confidence is not None), "")
        outline = ([f"{x(e):.1f},{y(hi):.1f}" for e, _, hi in bands]
                   + [f"{x(e):.1f},{y(lo):.1f}" for e, lo, _ in reversed(bands)])
        band = (f"<polygon points='{' '.join(outline)}' class='band'><title>{name}: "
                f"{confidence}interval</title></polygon>")
    return (
        f"<figure class='trend'><svg width='{width}' height='{height}' role='img' "
        f"aria-label='{label}'><text x='{left}' y='14' class='label'>{label}</text>"
        f"<line x1='{left}' y1='{height - bottom}' x2='{width - right}' y2='{height - bottom}' "
        f"class='axis'/><line x1='{left}' y1='{top}' x2='{left}' y2='{height - bottom}' "
        f"class='axis'/><text x='{left - 4}' y='{top + 4}' class='tick' text-anchor='end'>"
        f"{high:.2f}</text><text x='{left - 4}' y='{height - bottom}' class='tick' "
        f"text-anchor='end'>{low:.2f}</text><text x='{left}' y='{height - 6}' class='tick'>"
        f"{first}</text><text x='{width - right}' y='{height - 6}' class='tick' "
        f"text-anchor='end'>epoch {last}</text>{band}<polyline points='{line}' class='series'/>"
        f"<circle cx='{x(best[0]):.1f}' cy='{y(best[1]):.1f}' r='5' class='best'>"
        f"<title>{label}</title></circle></svg></figure>"
    )


_STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; background: #fff; }
dl#settings { display: grid; grid-template-columns: max-content auto; gap: 0 1em; }
dt { font-weight: 600; } dd { margin: 0; }
.trends { display: flex; flex-wrap: wrap; gap: 0.5em; } figure { margin: 0; }
.axis { stroke: #888; } .series { fill: none; stroke: #1f77b4; stroke-width: 2; }
.band { fill: #1f77b4; fill-opacity: 0.2; stroke: none; }
.interval { white-space: nowrap; color: #555; }
.best { fill: #d62728; } .label { font-size: 12px; } .tick { font-size: 10px; fill: #555; }
#controls { margin: 1em 0; font-size: 16px; } #slider { width: 40em; max-width: 90%; }
table { border-collapse: collapse; margin: 0.5em 0; }
td, th { padding: 2px 8px; text-align: right; border-bottom: 1px solid #ddd; }
th:first-child, td:first-child { text-align: left; }
.charts { display: flex; flex-wrap: wrap; gap: 1em; } .charts img { max-width: 520px; }
.missing { color: #888; }
"""

_SCRIPT = r"""
const data = JSON.parse(document.getElementById("epoch-data").textContent);
const slider = document.getElementById("slider");
const titles = {confusion_matrix: "Confusion matrix", roc_curve: "ROC",
                pr_curve: "Precision-recall"};
const headers = {best_threshold: "best threshold", f1_at_best_threshold: "f1 at best threshold",
                 f1_at_best_threshold_heldout: "f1 at best threshold, held-out"};
function cell(tag, text) { const c = document.createElement(tag); c.textContent = text; return c; }
function show(index) {
  const item = data.epochs[index];
  if (!item) return;
  document.getElementById("epoch-label").textContent = "Epoch " + item.epoch;
  slider.setAttribute("aria-valuetext", "epoch " + item.epoch);
  const scalars = document.getElementById("scalars");
  scalars.replaceChildren();
  const head = document.createElement("tr"), values = document.createElement("tr");
  for (const [name, value] of Object.entries(item.scalars)) {
    head.append(cell("th", headers[name] || name));
    const td = cell("td", value); td.dataset.metric = name; values.append(td);
    const parts = /^(.*) (\[[^\]]*\])$/.exec(value);  // "0.9644 [0.9480, 0.9781]"
    if (parts) {  // the interval wraps as one piece, under its value
      const interval = cell("span", parts[2]); interval.className = "interval";
      td.replaceChildren(parts[1] + " ", interval);
    }
  }
  scalars.append(head, values);
  if (item.confidence)
    scalars.prepend(cell("caption", "[low, high]: " + item.confidence + " intervals"));
  document.getElementById("undefined").textContent =
    item.undefined ? "Metrics are nan at this epoch: " + item.undefined : "";
  showClasses(item);
  const pairs = document.getElementById("confused-pairs");
  pairs.replaceChildren();
  if (item.pairs && item.pairs.length) {
    const header = document.createElement("tr");
    for (const name of ["true", "predicted", "count", "rate of the true class"])
      header.append(cell("th", name));
    pairs.append(cell("caption", "Most confused pairs"), header);
    for (const row of item.pairs) {
      const tr = document.createElement("tr");
      for (const value of row) tr.append(cell("td", value));
      pairs.append(tr);
    }
  }
  const charts = document.getElementById("charts");
  charts.replaceChildren();
  for (const name of Object.keys(titles)) {
    const figure = document.createElement("figure");
    if (item.images[name]) {
      const img = document.createElement("img");
      img.src = "data:image/png;base64," + item.images[name];
      img.alt = titles[name] + " at epoch " + item.epoch;
      img.id = "chart-" + name;
      figure.append(img);
    } else {
      figure.append(cell("p", titles[name] + ": not drawn for this epoch"));
      figure.className = "missing";
    }
    charts.append(figure);
  }
}
// the per-class table sorts by the clicked column (again: the other way); beyond 30
// classes it opens with the worst F1 first
const columns = ["class", "precision", "recall", "f1", "support", "roc_auc", "pr_auc"];
let sortColumn = null, sortUp = true;
function sortKey(value) { const x = parseFloat(value); return Number.isNaN(x) ? null : x; }
function sortedRows(rows) {
  if (sortColumn === null) return rows;
  const sign = sortUp ? 1 : -1;
  return rows.map((row, index) => [row, index]).sort(([a, i], [b, j]) => {
    if (sortColumn === 0) return sign * a[0].localeCompare(b[0]) || i - j;
    const x = sortKey(a[sortColumn]), y = sortKey(b[sortColumn]);
    if (x === null || y === null) return (x === null) - (y === null) || i - j;  // nan last
    return sign * (x - y) || i - j;
  }).map(([row]) => row);
}
function showClasses(item) {
  const table = document.getElementById("per-class");
  table.replaceChildren();
  const header = document.createElement("tr");
  columns.forEach((name, index) => {
    const th = cell("th", name + (index === sortColumn ? (sortUp ? " \u25b2" : " \u25bc") : ""));
    th.dataset.column = name;
    th.style.cursor = "pointer";
    th.setAttribute("aria-sort", index === sortColumn ? (sortUp ? "ascending" : "descending")
                                                      : "none");
    th.addEventListener("click", () => {
      sortUp = sortColumn === index ? !sortUp : true;
      sortColumn = index;
      showClasses(item);
    });
    header.append(th);
  });
  table.append(header);
  for (const row of sortedRows(item.rows)) {
    const tr = document.createElement("tr");
    for (const value of row) tr.append(cell("td", value));
    table.append(tr);
  }
}
const last = data.epochs[data.epochs.length - 1];
if (last && last.rows.length > 30) { sortColumn = 3; sortUp = true; }
slider.addEventListener("input", () => show(Number(slider.value)));
document.addEventListener("keydown", (event) => {
  if (event.target === slider) return;  // the slider moves itself
  const step = {ArrowLeft: -1, ArrowDown: -1, ArrowRight: 1, ArrowUp: 1}[event.key];
  if (step === undefined) return;
  const next = Math.min(Number(slider.max), Math.max(0, Number(slider.value) + step));
  slider.value = String(next);
  show(next);
  event.preventDefault();
});
slider.value = slider.max;
show(Number(slider.max));
"""

_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>{style}</style></head>
<body>
<h1>{title}</h1>
{settings}
<h2>Every epoch</h2>
<div class="trends">{trends}</div>
<h2>One epoch</h2>
<div id="controls"><label for="slider" id="epoch-label">Epoch</label><br>
<input type="range" id="slider" min="0" max="{max_index}" step="1" value="{max_index}"></div>
<table id="scalars"></table>
<p id="undefined"></p>
<div class="charts" id="charts"></div>
<h3>Per class</h3>
<table id="per-class"></table>
<table id="confused-pairs"></table>
<script type="application/json" id="epoch-data">{payload}</script>
<script>{script}</script>
</body></html>
"""
