"""`ChartRenderer`: draws each epoch's charts once, on a background thread, for every sink.

Every fault of the drawing side is handled here, and every wait is bounded:

- the backlog is `max_pending` epochs, whatever the size of an evaluation: `request` waits for
  a free slot only while the drawer makes progress; a drawer that has made none for
  `stall_seconds` (stuck in a slow disk, a hung `deliver`) is declared stalled, and the
  epochs that cannot be queued are dropped with a warning naming them;
- `close` waits for the backlog on the same terms, then names the epochs not delivered;
- a chart that fails to draw, or a `deliver` that raises, is a warning; nothing is raised;
- the thread lives only while there is work: it drains the backlog and ends (after
  `IDLE_SECONDS` without a job, or at `close`, which joins it), and the figures it kept end
  with it; so a `fit` interrupted before `close` (Keras skips `on_train_end` when training
  raises) still gets the epochs it handed over, and leaves no thread, figure or process
  behind;
- warnings found on the drawing thread are emitted on the caller's thread (at the next
  `request` or `close`), so they reach the user as warnings of ours, once.

Drawing happens on a thread of the training process, not in a child process. At 10-20 ms of
CPU per chart (`epoch_eval.charts.fast`), `benchmarks/bench_epoch_end.py` measures the same
charts drawn in a forked child (its `process_charts` variant) within noise of this thread end
to end on the worst case, while a child costs its own Python and Matplotlib in memory and
brings failure modes a thread has not: a stopped or killed process, a full pipe, the import
path of `python -c`, a process leaked by an interrupted `fit`, forking a process that runs
TensorFlow's threads.
"""

from __future__ import annotations

import threading
import time
import warnings
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from epoch_eval.metrics.result import Evaluation
from epoch_eval.sinks.base import DeliverCharts, Sink

STALL_SECONDS = 30.0
"""A drawer that has finished nothing for this long is stalled: training stops waiting."""

if TYPE_CHECKING:
    from epoch_eval.charts.fast import FastCharts

DEFAULT_BACKLOG = 4
IDLE_SECONDS = 10.0
"""The drawing thread ends, and frees the figures it kept, when no job came for this long
(after an interrupted `fit`, which never calls `close`). Epochs shorter than this reuse the
kept figures; a longer one draws them afresh (0.1-0.3 s of CPU a chart)."""

DrawChart = Callable[[str, Evaluation, int], bytes]
"""Draws chart `name` of an evaluation at an epoch and returns its PNG bytes."""


@dataclass
class _EpochCharts:
    """One epoch's evaluation and the PNGs drawn so far (touched by the drawing thread only)."""

    epoch: int
    evaluation: Evaluation
    pngs: dict[str, bytes | None] = field(default_factory=dict)


@dataclass
class _Job:
    charts: _EpochCharts
    names: tuple[str, ...]
    deliver: DeliverCharts


class _Backlog:
    """The state shared with the drawing thread (the thread never holds the renderer, so a
    renderer nobody holds is freed with its cached figures)."""

    def __init__(self, draw: DrawChart | None) -> None:
        self.draw = draw  # None: `fast.png`, made on the drawing thread, at its first job
        self.fast: FastCharts | None = None  # the kept figures: the drawing thread's alone
        self.changed = threading.Condition()
        self.jobs: deque[_Job] = deque()
        self.epochs: Counter[int] = Counter()  # epoch -> jobs queued or being drawn
        self.messages: list[str] = []
        self.last_progress = time.monotonic()
        self.stalled = False
        self.closed = False
        self.thread: threading.Thread | None = None


class ChartRenderer:
    """Draws the charts that sinks request, at most once per chart and epoch, off the
    training thread, with a bounded backlog and bounded waits.

    Args:
        draw: `draw(name, evaluation, epoch) -> PNG bytes`; default `FastCharts().png`, which
            keeps each chart's frame between epochs.
        max_pending: epochs whose charts may wait to be drawn before `request` waits.
        stall_seconds: how long the drawer may finish nothing before it is declared stalled.
    """

    def __init__(self, draw: DrawChart | None = None, *, max_pending: int = 4,
                 stall_seconds: float = STALL_SECONDS) -> None:
        self.max_pending = max_pending
        self.stall_seconds = stall_seconds
        self._backlog = _Backlog(draw)

    @classmethod
    def for_sinks(cls, sinks: Sequence[Sink]) -> ChartRenderer:
        """A renderer whose backlog is the smallest `chart_backlog` of `sinks` (default 4).
        Cheap: the drawing thread and Matplotlib start with the first request."""
        backlogs = [sink.chart_backlog for sink in sinks if sink.chart_backlog is not None]
        return cls(max_pending=min(backlogs, default=DEFAULT_BACKLOG),
                   stall_seconds=STALL_SECONDS)

    def charts_of(self, epoch: int, evaluation: Evaluation) -> EpochChartRequests:
        """The `ChartRequests` of one epoch, for its `EpochResult`."""
        return EpochChartRequests(self, _EpochCharts(epoch, evaluation))

    def submit(self, charts: _EpochCharts, names: Sequence[str], deliver: DeliverCharts) -> None:
        """Queue the drawing of `names` for `charts.epoch`; see `EpochChartRequests.request`."""
        backlog = self._backlog
        with backlog.changed:
            dropped = self._wait_for_slot(charts.epoch)
            if dropped is None:
                if not backlog.epochs:  # an idle drawer is not a stalled one
                    backlog.last_progress = time.monotonic()
                backlog.jobs.append(_Job(charts, tuple(names), deliver))
                backlog.epochs[charts.epoch] += 1
                dropped = self._start_thread()
            if dropped is not None:
                backlog.messages.append(dropped)
        self.emit_warnings(stacklevel=4)

    def close(self) -> None:
        """Wait, while the drawer makes progress, until every queued chart is delivered and the
        drawing thread has ended with its figures; then warn about the epochs that are not
        delivered. Later requests are dropped with a warning."""
        backlog = self._backlog
        with backlog.changed:
            while backlog.epochs and not backlog.closed:
                left = backlog.last_progress + self.stall_seconds - time.monotonic()
                if left <= 0:
                    break
                backlog.changed.wait(left)
            undelivered = sorted(backlog.epochs)
            backlog.closed = True
            backlog.jobs.clear()
            backlog.changed.notify_all()  # an idle drawing thread ends now
            thread = backlog.thread
        if thread is not None:  # it ends after its job: wait for it on the same stall terms
            while thread.is_alive():
                left = backlog.last_progress + self.stall_seconds - time.monotonic()
                if left <= 0:
                    break
                thread.join(left)
        if undelivered:
            backlog.messages.append(
                f"the chart drawer has finished nothing for {self.stall_seconds:g} s, so the "
                f"charts of epoch{'s' if len(undelivered) > 1 else ''} "
                f"{', '.join(map(str, undelivered))} are not written")
        elif thread is not None and thread.is_alive():
            backlog.messages.append(
                f"the chart drawer has finished nothing for {self.stall_seconds:g} s; its "
                f"thread is left to end by itself")
        self.emit_warnings(stacklevel=3)

    def is_drawing(self) -> bool:
        """Whether a drawing thread is alive (it ends once the backlog is empty)."""
        with self._backlog.changed:
            return self._backlog.thread is not None

    def emit_warnings(self, *, stacklevel: int = 2) -> None:
        """Emit, on the calling thread, the warnings collected on the drawing thread."""
        backlog = self._backlog
        with backlog.changed:
            messages, backlog.messages = backlog.messages, []
        for message in messages:
            warnings.warn(f"epoch_eval: {message}; training goes on.", RuntimeWarning,
                          stacklevel=stacklevel)

    def _start_thread(self) -> str | None:
        """Start the drawing thread (lock held) unless it runs; or say why the job is dropped."""
        backlog = self._backlog
        if backlog.thread is not None:
            backlog.changed.notify_all()  # wake it: it may be waiting for the next job
            return None
        thread = threading.Thread(target=_draw_jobs, args=(backlog,), name="epoch_eval-charts",
                                  daemon=True)
        try:
            thread.start()
        except RuntimeError as error:  # "can't start new thread": too many threads
            job = backlog.jobs.pop()
            backlog.epochs[job.charts.epoch] -= 1
            if backlog.epochs[job.charts.epoch] <= 0:
                del backlog.epochs[job.charts.epoch]
            return f"the charts of epoch {job.charts.epoch} are dropped ({error})"
        backlog.thread = thread
        return None

    def _wait_for_slot(self, epoch: int) -> str | None:
        """Wait (lock held) until `epoch` may be queued; or say why it is dropped."""
        backlog = self._backlog
        if backlog.closed:
            return f"the charts of epoch {epoch}, requested after the renderer closed, are dropped"
        while epoch not in backlog.epochs and len(backlog.epochs) >= self.max_pending:
            left = backlog.last_progress + self.stall_seconds - time.monotonic()
            if backlog.stalled or left <= 0:
                backlog.stalled = True
                return (f"the chart drawer has finished nothing for {self.stall_seconds:g} s, "
                        f"so the charts of epoch {epoch} are dropped")
            backlog.changed.wait(left)
        return None


class EpochChartRequests:
    """`ChartRequests` of one epoch, served by a `ChartRenderer`."""

    def __init__(self, renderer: ChartRenderer, charts: _EpochCharts) -> None:
        self._renderer = renderer
        self._charts = charts

    @property
    def epoch(self) -> int:
        return self._charts.epoch

    def request(self, names: Sequence[str], deliver: DeliverCharts) -> None:
        """Have the charts `names` drawn (each once per epoch) and call `deliver` with their
        PNG bytes, on the drawing thread. A chart that fails is left out, with a warning;
        nothing is drawn for an undefined evaluation. Waits while the backlog is full and the
        drawer makes progress."""
        if not self._charts.evaluation.is_defined:
            return
        self._renderer.submit(self._charts, names, deliver)


def _draw_jobs(backlog: _Backlog) -> None:
    """The drawing thread: draw and deliver queued jobs; end once none came for
    `IDLE_SECONDS` (so that short epochs reuse one thread), or at `close`."""
    try:
        while True:
            with backlog.changed:
                if not backlog.jobs and not backlog.closed:
                    backlog.changed.wait_for(lambda: backlog.jobs or backlog.closed,
                                             timeout=IDLE_SECONDS)
                if not backlog.jobs or backlog.closed:
                    _end_thread(backlog)  # under the lock: the next job starts a thread
                    return
                job = backlog.jobs.popleft()
                backlog.last_progress = time.monotonic()
            try:
                messages = _run(job, backlog)
            finally:
                with backlog.changed:
                    backlog.epochs[job.charts.epoch] -= 1
                    if backlog.epochs[job.charts.epoch] <= 0:
                        del backlog.epochs[job.charts.epoch]
                    backlog.last_progress = time.monotonic()
                    backlog.changed.notify_all()
            with backlog.changed:
                backlog.messages.extend(messages)
                if backlog.stalled:
                    backlog.stalled = False
                    backlog.messages.append(f"the chart drawer is moving again (epoch "
                                            f"{job.charts.epoch} done)")
    finally:  # also if the thread dies of something unforeseen: the next job starts another
        with backlog.changed:
            if backlog.thread is threading.current_thread():
                _end_thread(backlog)


def _end_thread(backlog: _Backlog) -> None:
    """The drawing thread ends (lock held): its figures go with it, and the next job starts a
    new thread, which makes its own."""
    backlog.fast = None
    backlog.thread = None
    backlog.changed.notify_all()


def _run(job: _Job, backlog: _Backlog) -> list[str]:
    """Draw the charts of `job` not drawn yet for its epoch and deliver them; return the
    failures as messages."""
    messages = []
    charts = job.charts
    for name in job.names:
        if name in charts.pngs:
            continue
        try:
            draw = backlog.draw
            if draw is None:
                if backlog.fast is None:
                    from epoch_eval.charts.fast import FastCharts  # Matplotlib, lazily

                    backlog.fast = FastCharts()
                draw = backlog.fast.png
            charts.pngs[name] = draw(name, charts.evaluation, charts.epoch)
        except Exception as error:  # a chart must never take training down
            charts.pngs[name] = None
            messages.append(f"could not draw {name} for epoch {charts.epoch} "
                            f"({type(error).__name__}: {error})")
        if backlog.fast is not None:
            messages.extend(backlog.fast.take_notes())
    pngs = {name: png for name in job.names if (png := charts.pngs.get(name)) is not None}
    try:
        job.deliver(pngs)
    except Exception as error:  # a sink's failure must not stop the other sinks' charts
        messages.append(f"delivering the charts of epoch {charts.epoch} failed "
                        f"({type(error).__name__}: {error})")
    return messages
