"""The template of `HtmlReport`'s page: its style, its script (the epoch slider, the tables,
and the three charts drawn as SVG from each epoch's numbers), and the document around them.

`PAGE` is a `str.format` template; `STYLE` and `SCRIPT` are inserted as they are.
"""

from __future__ import annotations

STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; background: #fff; }
dl#settings { display: grid; grid-template-columns: max-content auto; gap: 0 1em; }
dt { font-weight: 600; } dd { margin: 0; }
.trends { display: flex; flex-wrap: wrap; gap: 0.5em; } figure { margin: 0; }
.axis { stroke: #888; }
.series { fill: none; stroke: #1f77b4; stroke-width: 2; vector-effect: non-scaling-stroke; }
.band { fill: #1f77b4; fill-opacity: 0.2; stroke: none; }
.interval { white-space: nowrap; color: #555; }
.best { fill: #d62728; } .label { font-size: 12px; } .tick { font-size: 10px; fill: #555; }
#controls { margin: 1em 0; font-size: 16px; } #slider { width: 40em; max-width: 90%; }
table { border-collapse: collapse; margin: 0.5em 0; }
td, th { padding: 2px 8px; text-align: right; border-bottom: 1px solid #ddd; }
th:first-child, td:first-child { text-align: left; }
.charts { display: flex; flex-wrap: wrap; gap: 1em; align-items: flex-start; }
.missing { color: #888; } #keras-logs { color: #444; }
.chart text { font: 11px system-ui, sans-serif; fill: #222; } .chart .title { font-size: 13px; }
.chart .grid { stroke: #ddd; } .chart .frame { fill: none; stroke: #888; }
.chart .curve { fill: none; stroke-width: 1.5; stroke-linejoin: round; }
.chart .note { font-size: 10px; fill: #555; }
.panels { display: flex; flex-wrap: wrap; gap: 4px; max-width: 560px; }
"""

SCRIPT = r"""
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
  const logs = Object.entries(item.logs || {});
  document.getElementById("keras-logs").textContent = logs.length ?
    "Keras: " + logs.map(([name, value]) => name + " " + value).join(", ") : "";
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
    const chart = item.charts && item.charts[name];
    if (chart) {
      figure.append(name === "confusion_matrix" ? drawMatrix(chart, item.epoch)
                                                : drawCurves(name, chart, item.epoch));
    } else {
      figure.append(cell("p", titles[name] + ": not drawn for this epoch"));
      figure.className = "missing";
    }
    charts.append(figure);
  }
}
// --- the charts, drawn as SVG from the epoch's numbers --------------------------------------
const NS = "http://www.w3.org/2000/svg";
function el(tag, attributes, parent, text) {
  const node = document.createElementNS(NS, tag);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
  if (text !== undefined) node.textContent = text;
  if (parent) parent.append(node);
  return node;
}
function chartSvg(name, epoch, width, height) {
  return el("svg", {id: "chart-" + name, class: "chart", role: "img", width: width,
                    height: height, viewBox: "0 0 " + width + " " + height,
                    "aria-label": titles[name] + " at epoch " + epoch});
}
// Matplotlib's "Blues" (ColorBrewer), the colour of a row-normalised rate
const BLUES = [[247, 251, 255], [222, 235, 247], [198, 219, 239], [158, 202, 225],
               [107, 174, 214], [66, 146, 198], [33, 113, 181], [8, 81, 156], [8, 48, 107]];
function blue(rate) {
  if (!Number.isFinite(rate)) return [217, 217, 217];
  const x = Math.min(Math.max(rate, 0), 1) * (BLUES.length - 1), i = Math.min(Math.floor(x), 7);
  return BLUES[i].map((c, k) => Math.round(c + (x - i) * (BLUES[i + 1][k] - c)));
}
function formatCount(count) {  // as the PNG chart writes it
  if (count >= 1e5) {
    for (const [scale, suffix] of [[1e9, "G"], [1e6, "M"], [1e3, "k"]])
      if (count >= scale) return Number((count / scale).toPrecision(3)) + suffix;
  }
  if (Number.isInteger(count)) return String(count);
  return count >= 100 ? count.toFixed(0) : String(Number(count.toPrecision(3)));
}
function formatRate(rate) {
  if (rate > 0 && rate < 0.005) return "<1%";
  if (rate >= 0.995 && rate < 1) return ">99%";
  return Math.round(rate * 100) + "%";
}
function drawGrid(svg, names, cells, x0, y0, size, blankZeros) {
  const n = cells.length;
  const font = Math.min(11, size / 3.2);
  cells.forEach((row, i) => {
    const total = row.reduce((a, b) => a + b, 0);
    row.forEach((count, j) => {
      const rate = total > 0 ? count / total : NaN;
      const [r, g, b] = blue(rate);
      const rect = el("rect", {x: x0 + j * size, y: y0 + i * size, width: size, height: size,
                               fill: "rgb(" + r + "," + g + "," + b + ")"}, svg);
      rect.dataset.count = count;
      el("title", {}, rect, names[i] + " \u2192 " + names[j] + ": " + formatCount(count) +
         (Number.isFinite(rate) ? " (" + formatRate(rate) + " of the row)" : ""));
      if (size < 18 || (blankZeros && count === 0)) return;
      const dark = 0.299 * r + 0.587 * g + 0.114 * b < 128;
      const text = el("text", {x: x0 + (j + 0.5) * size, y: y0 + (i + 0.5) * size,
                               "text-anchor": "middle", "font-size": font,
                               style: "fill:" + (dark ? "#fff" : "#000")}, svg);
      const lines = [formatCount(count)];
      if (count !== 0 && Number.isFinite(rate)) lines.push(formatRate(rate));
      lines.forEach((line, k) => el("tspan", {x: x0 + (j + 0.5) * size,
        dy: k === 0 ? (lines.length > 1 ? "-0.2em" : "0.35em") : "1.1em"}, text, line));
    });
  });
  el("rect", {x: x0, y: y0, width: n * size, height: n * size, class: "frame"}, svg);
}
function drawMatrix(chart, epoch) {
  if (chart.panels) {  // multilabel: one 2x2 panel per label
    const box = document.createElement("div");
    box.className = "panels";
    box.id = "chart-confusion_matrix";
    box.setAttribute("role", "img");
    box.setAttribute("aria-label", titles.confusion_matrix + " at epoch " + epoch);
    for (const panel of chart.panels) {
      const svg = el("svg", {class: "chart", width: 170, height: 140}, box);
      el("text", {x: 108, y: 14, "text-anchor": "middle", class: "title"}, svg, panel.name);
      const names = ["negative", "positive"];
      names.forEach((name, k) => {
        el("text", {x: 56, y: 50 + k * 48, "text-anchor": "end"}, svg, name);
        el("text", {x: 84 + k * 48, y: 134, "text-anchor": "middle"}, svg, name);
      });
      drawGrid(svg, names, panel.cells, 60, 22, 48, false);
    }
    if (chart.note) box.append(cell("p", chart.note));
    return box;
  }
  const n = chart.names.length;
  const size = Math.max(8, Math.min(48, Math.floor(420 / n)));
  const longest = Math.max(...chart.names.map((name) => name.length));
  const margin = Math.min(170, 12 + 6.5 * longest);
  const notes = chart.note ? chart.note.split("; ") : [];  // one line per clause
  const top = 28 + 12 * notes.length, tick = Math.max(7, Math.min(11, size * 0.7));
  const width = margin + n * size + 90, height = top + n * size + margin + 10;
  const svg = chartSvg("confusion_matrix", epoch, width, height);
  el("text", {x: margin, y: 16, class: "title"}, svg, "Confusion matrix, epoch " + epoch);
  notes.forEach((line, k) => el("text", {x: 4, y: 30 + 12 * k, class: "note"}, svg, line));
  chart.names.forEach((name, i) => {
    el("text", {x: margin - 4, y: top + (i + 0.5) * size, "text-anchor": "end",
                "dominant-baseline": "middle", "font-size": tick}, svg, name);
    const x = margin + (i + 0.5) * size, y = top + n * size + 6;
    el("text", {x: x, y: y, "text-anchor": "end", "dominant-baseline": "middle",
                "font-size": tick, transform: "rotate(-60 " + x + " " + y + ")"}, svg, name);
  });
  el("text", {x: 12, y: top + n * size / 2, "text-anchor": "middle",
              transform: "rotate(-90 12 " + (top + n * size / 2) + ")"}, svg, "True label");
  el("text", {x: margin + n * size / 2, y: height - 4, "text-anchor": "middle"}, svg,
     "Predicted label");
  drawGrid(svg, chart.names, chart.cells, margin, top, size, Boolean(chart.note));
  colourBar(svg, margin + n * size + 12, top, n * size);
  return svg;
}
function colourBar(svg, x, y, height) {  // the row-normalised rate's scale, 0% at the bottom
  const gradient = el("linearGradient", {id: "rate-scale", x1: 0, y1: 1, x2: 0, y2: 0},
                      el("defs", {}, svg));
  BLUES.forEach((rgb, k) => el("stop", {offset: k / (BLUES.length - 1),
                                        "stop-color": "rgb(" + rgb.join(",") + ")"}, gradient));
  el("rect", {x: x, y: y, width: 12, height: height, fill: "url(#rate-scale)", class: "frame",
              style: "fill:url(#rate-scale)"}, svg);
  for (const rate of [0, 0.5, 1])
    el("text", {x: x + 16, y: y + (1 - rate) * height + 4}, svg, rate * 100 + "%");
  el("text", {x: x + 50, y: y + height / 2, "text-anchor": "middle", class: "note",
              transform: "rotate(-90 " + (x + 50) + " " + (y + height / 2) + ")"}, svg,
     "Row-normalised rate");
}
const TAB10 = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
               "#7f7f7f", "#bcbd22", "#17becf"];
const AVERAGES = {micro: {stroke: "deeppink", "stroke-dasharray": "6 4", "stroke-width": 2.5},
                  macro: {stroke: "navy", "stroke-dasharray": "2 3", "stroke-width": 3}};
function drawCurves(name, chart, epoch) {
  const side = 320, x0 = 48, y0 = 28, legendX = x0 + side + 16;
  const entries = chart.averages.length + chart.curves.length + (chart.others ? 1 : 0) +
                  (chart.chance ? 1 : 0) + (chart.skipped.length ? 1 : 0);
  const width = legendX + 310, height = Math.max(y0 + side + 44, y0 + 18 * entries + 10);
  const svg = chartSvg(name, epoch, width, height);
  el("text", {x: x0, y: 16, class: "title"}, svg, titles[name] + ", epoch " + epoch);
  const px = (v) => x0 + v / 1000 * side, py = (v) => y0 + side - v / 1000 * side;
  for (let k = 0; k <= 5; k++) {
    const at = k * 200;
    el("line", {x1: px(at), y1: y0, x2: px(at), y2: y0 + side, class: "grid"}, svg);
    el("line", {x1: x0, y1: py(at), x2: x0 + side, y2: py(at), class: "grid"}, svg);
    el("text", {x: px(at), y: y0 + side + 14, "text-anchor": "middle"}, svg, String(k / 5));
    el("text", {x: x0 - 4, y: py(at) + 4, "text-anchor": "end"}, svg, String(k / 5));
  }
  el("rect", {x: x0, y: y0, width: side, height: side, class: "frame"}, svg);
  const roc = name === "roc_curve";
  el("text", {x: x0 + side / 2, y: y0 + side + 32, "text-anchor": "middle"}, svg,
     roc ? "False positive rate" : "Recall");
  el("text", {x: 12, y: y0 + side / 2, "text-anchor": "middle",
              transform: "rotate(-90 12 " + (y0 + side / 2) + ")"}, svg,
     roc ? "True positive rate" : "Precision");
  let row = 0;
  function legend(text, style) {
    const y = y0 + 8 + 18 * row++;
    if (style) el("line", {x1: legendX, y1: y - 4, x2: legendX + 24, y2: y - 4, ...style}, svg);
    el("text", {x: legendX + 30, y: y}, svg, text);
  }
  const metric = chart.metric;
  function line(curve, style) {
    const p = curve.points, points = [];  // the first point, then steps, in thousandths
    for (let k = 0, x = 0, y = 0; k < p.length; k += 2) {
      x += p[k]; y += p[k + 1];
      points.push(px(x).toFixed(1) + "," + py(y).toFixed(1));
    }
    const polyline = el("polyline", {points: points.join(" "), class: "curve", ...style}, svg);
    polyline.dataset.name = curve.name;
    el("title", {}, polyline, curve.name + " (" + metric + " = " + curve.score.toFixed(3) + ")");
  }
  if (chart.chance) {
    const c = chart.chance, style = {stroke: "#000", "stroke-dasharray": "5 4", opacity: 0.6};
    el("line", {x1: px(c[0] * 1000), y1: py(c[1] * 1000), x2: px(c[2] * 1000),
                y2: py(c[3] * 1000), ...style, "stroke-width": 1}, svg);
  }
  chart.curves.forEach((curve, k) => line(curve, {stroke: TAB10[k % 10]}));
  for (const curve of chart.averages) line(curve, AVERAGES[curve.name] || {});
  for (const curve of chart.averages)
    legend(curve.name + "-average (" + metric + " = " + curve.score.toFixed(3) + ")",
           AVERAGES[curve.name]);
  chart.curves.forEach((curve, k) =>
    legend(curve.name + " (" + metric + " = " + curve.score.toFixed(3) + ")",
           {stroke: TAB10[k % 10], "stroke-width": 2}));
  if (chart.others)
    legend(chart.others.count + " other " + chart.noun + (chart.noun === "class" ? "es" : "s") +
           " (" + metric + " " + chart.others.low.toFixed(3) + "\u2013" +
           chart.others.high.toFixed(3) + "), not drawn", null);
  if (chart.chance)
    legend("Chance level (" + metric + " = " + (roc ? 0.5 : chart.chance[1]).toFixed(3) + ")",
           {stroke: "#000", "stroke-dasharray": "5 4", opacity: 0.6});
  if (chart.skipped.length)
    legend("not drawn, " + metric + " undefined: " + chart.skipped.slice(0, 3).join(", ") +
           (chart.skipped.length > 3 ? " +" + (chart.skipped.length - 3) : ""), null);
  return svg;
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

PAGE = """<!DOCTYPE html>
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
<p id="keras-logs"></p>
<p id="undefined"></p>
<div class="charts" id="charts"></div>
<h3>Per class</h3>
<table id="per-class"></table>
<table id="confused-pairs"></table>
<script type="application/json" id="epoch-data">{payload}</script>
<script>{script}</script>
</body></html>
"""
