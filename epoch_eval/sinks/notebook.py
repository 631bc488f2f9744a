"""`Notebook`: one live view under the notebook cell that runs `fit`, updated in place."""

from __future__ import annotations

import html
import math
import numbers
import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from epoch_eval.charts.render import CHART_NAMES, check_chart_names
from epoch_eval.metrics.result import SCALAR_NAMES, Evaluation
from epoch_eval.sinks.base import EpochResult, Sink
from epoch_eval.sinks.notebook_html import (
    chart_images,
    encode_images,
    evaluation_values,
    number,
    summary,
    trend_svg,
    values_table,
)

INSTALL_HINT = "pip install 'epoch-eval[notebook]'"
EVALUATION_METRICS: tuple[str, ...] = (*SCALAR_NAMES, "churn")
"""The names `metrics=` reads from the `Evaluation`; any other name is a key of Keras' logs."""
KERAS_DEFAULTS: tuple[str, ...] = ("loss", "val_loss")


@dataclass
class _Epoch:
    """One epoch's values as the view shows them (nan: no value)."""

    epoch: int
    evaluation: Evaluation
    values: dict[str, float]
    bands: dict[str, tuple[float, float]] = field(default_factory=dict)


class Notebook(Sink):
    """Show each evaluated epoch in one output under the notebook cell that runs `fit`,
    updated in place (an IPython display handle): no new output per epoch.

    The view holds, for the latest epoch: each of `metrics` against the epoch (a small line
    each, best epoch circled, the interval as a band), a one-line table of the epoch's values,
    and its `charts`. The charts come from the evaluator's shared drawing thread, like
    `PngFolder`'s; the view is updated from there when they arrive, and from the training
    thread at each epoch's end and when `fit` ends, so that when `fit` returns the output shows
    the last epoch, charts included. Outside a notebook (no IPython kernel) it warns once and
    shows nothing.

    Args:
        charts: any of `"confusion_matrix"`, `"roc_curve"`, `"pr_curve"`; `()` for none.
        metrics: the values shown, in order: epoch_eval's (`"f1"`, `"precision"`, `"recall"`,
            `"accuracy"`, `"roc_auc"`, `"pr_auc"`, `"churn"`) or any other numeric key of
            Keras' epoch logs (`"loss"`, `"val_loss"`, `"val_f1"`, ...). Default: epoch_eval's
            six values, then Keras' `loss` and `val_loss` when it logs them.

    Raises:
        ImportError: when IPython is not installed (the `notebook` extra).
        ValueError: for an unknown chart name, or `metrics` that is not a sequence of names.

    Example:
        >>> model.fit(x, y, epochs=20, validation_data=(x_val, y_val),
        ...           callbacks=[EpochEvaluator((x_val, y_val), sinks=[Notebook()])])
    """

    waits_for_epoch_line: ClassVar[bool] = False  # a display of its own: shown at the epoch's end

    def __init__(self, charts: Sequence[str] = CHART_NAMES,
                 metrics: Sequence[str] | None = None) -> None:
        try:
            import IPython  # noqa: F401
        except ImportError as error:
            raise ImportError(f"Notebook needs IPython: {INSTALL_HINT}") from error
        self.charts = tuple(dict.fromkeys(check_chart_names(
            (charts,) if isinstance(charts, str) else charts)))
        self.metrics = None if metrics is None else _check_metrics(metrics)
        self._names = self.metrics or (*SCALAR_NAMES, *KERAS_DEFAULTS)
        self._lock = threading.Lock()  # the state below, and one update at a time
        self._handle: Any = None  # the IPython display handle, while shown
        self._live = False  # chart deliveries update the view (between open and close)
        self._fit = 0  # counts fits: a late delivery of an earlier fit is ignored
        self._epochs: list[_Epoch] = []
        self._images: tuple[int, dict[str, str]] | None = None  # the latest charts' epoch, PNGs
        self._trends = ""  # the metric-vs-epoch lines' HTML, drawn at each epoch
        self._told_no_kernel = False
        self._failure: str | None = None  # why the view stopped, until told on this thread
        self._told_missing: set[str] = set()

    def open(self) -> None:
        """Put the (empty) view under the running cell; outside a notebook, warn once."""
        with self._lock:
            self._fit += 1
            self._epochs, self._images, self._handle = [], None, None
            self._told_missing = set()
            self._live, self._failure = False, None
        self.draws_charts = False  # until its view is shown
        if not _in_kernel():
            if not self._told_no_kernel:
                self._told_no_kernel = True
                warnings.warn("epoch_eval: Notebook shows its view in a Jupyter notebook only "
                              "(an IPython kernel), and none runs here: it shows nothing. "
                              "Outside notebooks use Stdout(), PngFolder(...) or "
                              "HtmlReport(...).", RuntimeWarning, stacklevel=2)
            return
        from IPython.display import display

        try:
            handle = display(_bundle("<p>epoch_eval: the values and charts of each epoch show "
                                     "here when it ends.</p>", "epoch_eval: waiting for the "
                                     "first epoch"), raw=True, display_id=True)
        except Exception as error:  # the view must never stop training
            warnings.warn(f"epoch_eval: Notebook could not show its view ({type(error).__name__}"
                          f": {error}); it shows nothing in this fit, training goes on.",
                          RuntimeWarning, stacklevel=2)
            return
        with self._lock:
            self._handle, self._live = handle, True
        self.draws_charts = bool(self.charts)  # the chart process starts with fit

    def write(self, result: EpochResult) -> None:
        """Add the epoch, update the view, and ask for its charts (they update it again)."""
        if self._handle is None:
            self._tell_failure()
            return
        values, bands, missing = self._values(result)
        with self._lock:
            self._epochs.append(_Epoch(result.epoch, result.evaluation, values, bands))
            self._trends = self._trends_html()  # drawn once an epoch, whatever the updates
            self._update()
        self._tell_failure()
        self._tell_missing(missing, result)
        if self.charts and result.evaluation.is_defined and self._handle is not None:
            fit, epoch = self._fit, result.epoch
            result.charts.request(self.charts, lambda pngs: self._receive(fit, epoch, pngs))

    def close(self) -> None:
        """Show the last epoch with its charts (the evaluator has delivered them all by now),
        from the training thread, while the cell still runs."""
        with self._lock:
            self._live = False
            if self._handle is not None and self._epochs:
                self._update()
        self._tell_failure()

    # -- the view -------------------------------------------------------------------------
    def _receive(self, fit: int, epoch: int, pngs: dict[str, bytes]) -> None:
        """Keep the charts of `epoch` if they are the latest, and show them (drawing thread)."""
        images = encode_images(pngs)
        with self._lock:
            if fit != self._fit or (self._images is not None and self._images[0] > epoch):
                return
            self._images = (epoch, images)
            if self._live:
                self._update()

    def _update(self) -> None:
        """Replace the view's content (lock held). The message goes to the cell of `fit`: from
        the training thread, that is the running cell; from the drawing thread, ipykernel 7
        uses the latest cell (the one running `fit`, since a kernel runs one cell at a time)
        and 6.x the cell that started the thread (the same). An update never adds an output:
        one that arrives after the cell ended changes the view or nothing."""
        try:
            self._handle.update(_bundle(self._html(), self._text()), raw=True)
        except Exception as error:  # the kernel's channel is gone, say: stop, training goes on
            self._handle, self._live = None, False
            self._failure = f"{type(error).__name__}: {error}"

    def _html(self) -> str:
        latest = self._epochs[-1]
        evaluation = latest.evaluation
        values = {name: number(latest.values.get(name, math.nan),
                               small=name not in EVALUATION_METRICS) for name in self._shown()}
        _, formatted = evaluation_values(evaluation)
        parts = [f"<div class='epoch-eval-notebook' data-epoch='{latest.epoch}' "
                 "style='font:13px sans-serif'>",
                 f"<div><b>epoch_eval</b> \u00b7 epoch {latest.epoch} \u00b7 "
                 f"{html.escape(summary(evaluation))}</div>",
                 values_table(values, epoch=latest.epoch,
                              intervals={k: v for k, v in formatted.items() if k in values})]
        if not evaluation.is_defined:
            parts.append(f"<p>Metrics are nan at epoch {latest.epoch}: "
                         f"{html.escape(evaluation.undefined_reason or '')}</p>")
        parts.append(self._trends)
        if self._images is not None:
            epoch, images = self._images
            if epoch != latest.epoch:
                note = (f"Charts of epoch {epoch}; epoch {latest.epoch}'s are being drawn."
                        if evaluation.is_defined else f"Charts of epoch {epoch}.")
                parts.append(f"<p style='color:#777'>{html.escape(note)}</p>")
            parts.append(chart_images(images, epoch))
        return "".join(parts) + "</div>"

    def _shown(self) -> list[str]:
        """The names of `metrics` that have had a value in this fit, in order."""
        return [name for name in self._names
                if any(name in item.values for item in self._epochs)]

    def _trends_html(self) -> str:
        return "<div style='display:flex;flex-wrap:wrap;gap:4px'>" + "".join(
            trend_svg(name, [(item.epoch, item.values[name]) for item in self._epochs
                             if name in item.values],
                      [(item.epoch, *item.bands[name]) for item in self._epochs
                       if name in item.bands])
            for name in self._shown()) + "</div>"

    def _text(self) -> str:
        latest = self._epochs[-1]
        return f"epoch_eval epoch {latest.epoch}: " + " - ".join(
            f"{name} {number(value, small=name not in EVALUATION_METRICS)}"
            for name, value in latest.values.items())

    # -- the values -----------------------------------------------------------------------
    def _values(self, result: EpochResult) -> tuple[dict[str, float],
                                                     dict[str, tuple[float, float]], list[str]]:
        """The epoch's value of each name, their intervals, and the named Keras keys that the
        logs lack (a default name that is missing is left out silently)."""
        evaluation = result.evaluation
        values: dict[str, float] = {}
        bands: dict[str, tuple[float, float]] = {}
        missing = []
        for name in self._names:
            if name in EVALUATION_METRICS:
                value = getattr(evaluation, name)
                values[name] = math.nan if value is None else float(value)
                if evaluation.intervals and name in evaluation.intervals:
                    low, high = evaluation.intervals[name]
                    bands[name] = (float(low), float(high))
                continue
            logged = _as_float(result.logs.get(name))
            if logged is not None:
                values[name] = logged
            elif self.metrics is not None:
                values[name] = math.nan
                missing.append(name)
        return values, bands, missing

    def _tell_failure(self) -> None:
        """Warn, on the training thread, that the view could not be updated (once)."""
        with self._lock:
            failure, self._failure = self._failure, None
        if failure is not None:
            warnings.warn(f"epoch_eval: Notebook could not update its view ({failure}); it "
                          "stops updating in this fit, training goes on.", RuntimeWarning,
                          stacklevel=3)

    def _tell_missing(self, missing: list[str], result: EpochResult) -> None:
        new = [name for name in missing if name not in self._told_missing]
        if not new:
            return
        self._told_missing.update(new)
        keys = sorted(key for key, value in result.logs.items() if _as_float(value) is not None)
        warnings.warn(f"epoch_eval: Notebook: {', '.join(map(repr, new))} not in Keras' logs at "
                      f"epoch {result.epoch}, shown as nan. The logs have: "
                      f"{', '.join(keys) or 'nothing numeric'}; epoch_eval's own values are "
                      f"{', '.join(EVALUATION_METRICS)}.", RuntimeWarning, stacklevel=3)


def _bundle(text_html: str, text: str) -> dict[str, str]:
    return {"text/html": text_html, "text/plain": text}


def _in_kernel() -> bool:
    """Whether this process is an IPython kernel (a notebook's, VS Code's, Colab's), not a
    plain interpreter or a terminal IPython."""
    from IPython import get_ipython

    return getattr(get_ipython(), "kernel", None) is not None


def _as_float(value: Any) -> float | None:
    """A Keras log value as a float; None when it is not one number."""
    if isinstance(value, bool):
        return None
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "iuf":
        return float(value)
    return None


def _check_metrics(metrics: Sequence[str]) -> tuple[str, ...]:
    if isinstance(metrics, str) or not isinstance(metrics, Sequence):
        raise ValueError(f"Invalid `metrics` argument value. Expected a sequence of names, such "
                         f"as ('f1', 'loss', 'val_loss'). Received: metrics={metrics!r}")
    names = tuple(dict.fromkeys(metrics))
    if not names or not all(isinstance(name, str) and name for name in names):
        raise ValueError(f"Invalid `metrics` argument value. Expected at least one non-empty "
                         f"name: epoch_eval's {EVALUATION_METRICS} or a key of Keras' logs. "
                         f"Received: metrics={metrics!r}")
    return names
