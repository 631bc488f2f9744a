"""The HTML a notebook shows: an epoch's values as a one-line table, each value against the
epoch as a small inline SVG line, and charts as inline base64 PNGs; and `evaluation_html`, the
view of one `Evaluation` behind `Evaluation._repr_html_`.

Plain strings, no IPython and no network: the `Notebook` sink sends them to the notebook, and
any page can hold them. Every name and text from outside is escaped.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Mapping, Sequence

from epoch_eval.charts.render import CHART_NAMES, CHART_TITLES, chart_png
from epoch_eval.metrics.result import SCALAR_NAMES, Evaluation
from epoch_eval.sinks.metric_direction import lower_is_better

_TABLE = "border-collapse:collapse;margin:0.3em 0;font-size:13px"
_CELL = "padding:2px 8px;text-align:right;border-bottom:1px solid #ccc"


def number(value: float, *, small: bool = False) -> str:
    """`value` with 4 decimals, as `Stdout` and Keras print it; `small`: below 1e-3, in
    scientific notation as Keras' progress bar writes a loss (`1.2345e-05`)."""
    if math.isnan(value):
        return "nan"
    if small and value != 0 and abs(value) < 1e-3:
        return f"{value:.4e}"
    return f"{value:.4f}"


def values_table(values: Mapping[str, str], *, intervals: Mapping[str, str] | None = None,
                 epoch: int | None = None) -> str:
    """One header row of names and one row of values (already formatted), the epoch first
    when given; an interval, when given for a name, follows its value in smaller type."""
    intervals = intervals or {}
    names = ([] if epoch is None else ["epoch"]) + list(values)
    cells = ([] if epoch is None else [str(epoch)]) + [
        html.escape(value) + (f" <small style='white-space:nowrap;color:#777'>"
                              f"{html.escape(intervals[name])}</small>"
                              if name in intervals else "")
        for name, value in values.items()]
    head = "".join(f"<th style='{_CELL}'>{html.escape(name)}</th>" for name in names)
    row = "".join(f"<td style='{_CELL}' data-metric='{html.escape(name, quote=True)}'>{cell}"
                  "</td>" for name, cell in zip(names, cells, strict=True))
    return (f"<table class='epoch-eval-values' style='{_TABLE}'><tr>{head}</tr><tr>{row}</tr>"
            "</table>")


def trend_svg(name: str, points: Sequence[tuple[int, float]],
              bands: Sequence[tuple[int, float, float]] = (), *, width: int = 220,
              height: int = 110) -> str:
    """A small SVG line of `name` against the epoch, its best epoch circled (the lowest for a
    loss or churn), its interval as a translucent band where `bands` gives one. Beyond one
    epoch per 2 pixels the line is thinned to every k-th epoch (the last and the best kept),
    so its cost stays bounded however long the run.

    Args:
        name: the value's name, shown with its latest and best values.
        points: `(epoch, value)` in epoch order; nan values are left out.
        bands: `(epoch, low, high)` where the value has an interval.
    """
    finite = [(e, v) for e, v in points if math.isfinite(v)]
    bands = [(e, lo, hi) for e, lo, hi in bands if math.isfinite(lo) and math.isfinite(hi)]
    stride = max(1, math.ceil(len(points) / (width // 2)))  # a point per 2 pixels at most
    label = html.escape(name)
    svg = (f"<svg class='epoch-eval-trend' width='{width}' height='{height}' role='img' "
           f"style='font:10px sans-serif'")
    if not finite:
        return f"{svg} aria-label='{label}: nan'><text x='4' y='14' fill='currentColor'>" \
               f"{label}: nan</text></svg>"
    low = min([v for _, v in finite] + [lo for _, lo, _ in bands])
    high = max([v for _, v in finite] + [hi for _, _, hi in bands])
    if high - low < 1e-12:
        low, high = low - 0.05, high + 0.05
    first, last = points[0][0], points[-1][0]
    left, right, top, bottom = 38, 6, 20, 16

    def x(epoch: int) -> float:
        return left + (epoch - first) / max(last - first, 1) * (width - left - right)

    def y(value: float) -> float:
        return top + (high - value) / (high - low) * (height - top - bottom)

    best = (min if lower_is_better(name) else max)(finite, key=lambda pair: pair[1])
    finite, bands = _thin(finite, stride, best), _thin(bands, stride)
    latest = points[-1][1]
    caption = (f"{label} {number(latest, small=True)} (best {number(best[1], small=True)} at "
               f"{best[0]})")
    band = ""
    if bands:
        outline = ([f"{x(e):.1f},{y(hi):.1f}" for e, _, hi in bands]
                   + [f"{x(e):.1f},{y(lo):.1f}" for e, lo, _ in reversed(bands)])
        band = f"<polygon points='{' '.join(outline)}' fill='#1f77b4' fill-opacity='0.2'/>"
    line = " ".join(f"{x(e):.1f},{y(v):.1f}" for e, v in finite)
    return (
        f"{svg} aria-label='{caption}'><text x='{left}' y='12' fill='currentColor'>{caption}"
        f"</text><line x1='{left}' y1='{height - bottom}' x2='{width - right}' "
        f"y2='{height - bottom}' stroke='#999'/><line x1='{left}' y1='{top}' x2='{left}' "
        f"y2='{height - bottom}' stroke='#999'/><text x='{left - 3}' y='{top + 4}' "
        f"text-anchor='end' fill='#777'>{high:.3g}</text><text x='{left - 3}' "
        f"y='{height - bottom}' text-anchor='end' fill='#777'>{low:.3g}</text>"
        f"<text x='{left}' y='{height - 3}' fill='#777'>{first}</text><text "
        f"x='{width - right}' y='{height - 3}' text-anchor='end' fill='#777'>epoch {last}"
        f"</text>{band}<polyline points='{line}' fill='none' stroke='#1f77b4' "
        f"stroke-width='1.5'/><circle cx='{x(best[0]):.1f}' cy='{y(best[1]):.1f}' r='3.5' "
        f"fill='#d62728'/></svg>")


def _thin(items: list, stride: int, keep: object = None) -> list:
    """Every `stride`-th item, the last one and `keep`, in order (all of them at stride 1)."""
    if stride == 1:
        return items
    return [item for index, item in enumerate(items)
            if index % stride == 0 or index == len(items) - 1 or item == keep]


def chart_images(images: Mapping[str, str], epoch: int | None = None) -> str:
    """The charts as `<img>` elements with inline PNG data, in `CHART_NAMES` order.

    Args:
        images: chart name -> base64 PNG (`encode_images`).
        epoch: the epoch they show, put in their `alt` text and `data-epoch`.
    """
    at = "" if epoch is None else f" at epoch {epoch}"
    data_epoch = "" if epoch is None else f" data-epoch='{epoch}'"
    return "<div style='display:flex;flex-wrap:wrap;gap:8px;align-items:flex-start'>" + "".join(
        f"<img class='epoch-eval-chart' data-chart='{name}'{data_epoch} "
        f"alt='{CHART_TITLES[name]}{at}' style='max-width:480px;height:auto' "
        f"src='data:image/png;base64,{images[name]}'/>"
        for name in CHART_NAMES if name in images) + "</div>"


def encode_images(pngs: Mapping[str, bytes]) -> dict[str, str]:
    """PNG bytes -> base64 text, for `chart_images`."""
    return {name: base64.b64encode(png).decode("ascii") for name, png in pngs.items()}


def evaluation_values(evaluation: Evaluation) -> tuple[dict[str, str], dict[str, str]]:
    """The headline values of `evaluation` formatted as `Stdout` prints them, and their
    intervals (`[low, high]`), for `values_table`; churn and a binary best threshold join
    them when present."""
    values = {name: number(float(getattr(evaluation, name))) for name in SCALAR_NAMES}
    intervals = {name: f"[{number(low)}, {number(high)}]"
                 for name, (low, high) in (evaluation.intervals or {}).items() if name in values}
    if evaluation.roc_auc_error_bound > 0:  # binned: the certified bound, then the interval
        bound = f"\u00b1{number(evaluation.roc_auc_error_bound)}"
        intervals["roc_auc"] = " ".join(filter(None, (bound, intervals.get("roc_auc"))))
    if evaluation.churn is not None:
        values["churn"] = number(evaluation.churn)
    if evaluation.task == "binary" and evaluation.best_threshold is not None:
        values["best_threshold"] = number(float(evaluation.best_threshold))  # type: ignore[arg-type]
    return values, intervals


def summary(evaluation: Evaluation) -> str:
    """The task, class count, rows, average and confidence in a few words."""
    parts = [evaluation.task, f"{len(evaluation.class_names)} classes",
             f"{evaluation.n_samples} samples", f"{evaluation.average} average"]
    if evaluation.intervals and evaluation.confidence is not None:
        parts.append(f"{evaluation.confidence:.0%} intervals")
    return ", ".join(parts)


def evaluation_html(evaluation: Evaluation, charts: Sequence[str] = CHART_NAMES) -> str:
    """The HTML of one `Evaluation`: a summary, its values in a table, and its `charts`
    drawn now as inline PNGs (a chart that fails to draw is named instead). Used by
    `Evaluation._repr_html_`, so that an evaluation left last in a notebook cell renders."""
    values, intervals = evaluation_values(evaluation)
    parts = [f"<div class='epoch-eval-evaluation'><p><b>Evaluation</b>: "
             f"{html.escape(summary(evaluation))}</p>", values_table(values, intervals=intervals)]
    if not evaluation.is_defined:
        parts.append(f"<p>Metrics are nan: {html.escape(evaluation.undefined_reason or '')}</p>")
    else:
        pngs, failed = {}, []
        for name in charts:
            try:
                pngs[name] = chart_png(name, evaluation)
            except Exception as error:  # a view must render, whatever one chart does
                failed.append(f"{CHART_TITLES[name]}: not drawn ({type(error).__name__}: "
                              f"{error})")
        parts.append(chart_images(encode_images(pngs)))
        parts.extend(f"<p>{html.escape(text)}</p>" for text in failed)
    return "".join(parts) + "</div>"
