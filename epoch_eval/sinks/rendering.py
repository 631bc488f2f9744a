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

The thread does not draw: it hands each chart to a child process (`DrawerProcess`, which
keeps one `FastCharts` for the whole `fit`) and waits for the PNG with the GIL free. Drawn on
the thread itself, Matplotlib's 15-20 ms of CPU a chart held the GIL that the training loop
needs between its steps, and a 0.1 s epoch with three charts took 1.5-1.7x as long as without
(`benchmarks/bench_epoch_end.py`, its `thread_charts` variant). The child's faults are bounded
and named there; where no child can start, the charts are drawn on the thread, said once.
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
from epoch_eval.sinks.drawer_process import DrawerProcess, DrawerUnavailable

STALL_SECONDS = 30.0
"""A drawer that has finished nothing for this long is stalled: training stops waiting."""

if TYPE_CHECKING:
    from epoch_eval.charts.fast import FastCharts

DEFAULT_BACKLOG = 4
IDLE_SECONDS = 10.0
"""The drawing thread ends, with its chart process and the figures kept there, when no job
came for this long (after an interrupted `fit`, which never calls `close`). Epochs shorter
than this reuse the kept figures; a longer one starts a new process (about 1 s of CPU, in the
child) and draws them afresh (0.1-0.3 s of CPU a chart)."""
DRAIN_SECONDS = 5.0
"""How long `close` waits for a drawing thread whose chart process it had to kill."""

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

    def __init__(self, draw: DrawChart | None, stall_seconds: float) -> None:
        self.draw = draw  # None: `drawer.png`, made on the drawing thread, at its first job
        self.stall_seconds = stall_seconds  # also each chart's deadline in the chart process
        # the chart process (or, where none can run, the kept figures): the drawing thread's
        self.drawer: DrawerProcess | FastCharts | None = None
        self.in_process = False  # no chart process could run: draw on the thread from now on
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
        draw: `draw(name, evaluation, epoch) -> PNG bytes`, called on the drawing thread;
            default: a `DrawerProcess`'s, whose `FastCharts` keeps each chart's frame between
            epochs in a child process.
        max_pending: epochs whose charts may wait to be drawn before `request` waits.
        stall_seconds: how long the drawer may finish nothing before it is declared stalled.
    """

    def __init__(self, draw: DrawChart | None = None, *, max_pending: int = 4,
                 stall_seconds: float = STALL_SECONDS) -> None:
        self.max_pending = max_pending
        self.stall_seconds = stall_seconds
        self._backlog = _Backlog(draw, stall_seconds)

    @classmethod
    def for_sinks(cls, sinks: Sequence[Sink]) -> ChartRenderer:
        """A renderer whose backlog is the smallest `chart_backlog` of `sinks` (default 4).
        When a sink draws charts, its chart process starts now (in the background: this
        returns at once), so that its imports overlap the first epoch."""
        backlogs = [sink.chart_backlog for sink in sinks if sink.chart_backlog is not None]
        renderer = cls(max_pending=min(backlogs, default=DEFAULT_BACKLOG),
                       stall_seconds=STALL_SECONDS)
        if any(sink.draws_charts for sink in sinks):
            renderer.start_drawer()
        return renderer

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
            drawer = backlog.drawer
            if thread.is_alive() and isinstance(drawer, DrawerProcess):
                drawer.kill()  # a stuck chart process: the thread's wait on it ends at once
                thread.join(DRAIN_SECONDS)
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

    def start_drawer(self) -> None:
        """Start the drawing thread and its chart process ahead of the first request (they
        end after `IDLE_SECONDS` without one). Does nothing with a `draw` of one's own."""
        backlog = self._backlog
        with backlog.changed:
            if backlog.draw is None and not backlog.closed:
                dropped = self._start_thread()
                if dropped is not None:
                    backlog.messages.append(dropped)

    def is_drawing(self) -> bool:
        """Whether a drawing thread is alive (it ends once the backlog is empty)."""
        with self._backlog.changed:
            return self._backlog.thread is not None

    def drawer_pid(self) -> int | None:
        """The process id of the chart process, or None when none runs."""
        drawer = self._backlog.drawer
        return getattr(drawer, "pid", None)

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
            if not backlog.jobs:
                return f"the chart drawer could not start ({error})"
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
        if backlog.draw is None and backlog.drawer is None and not backlog.in_process:
            messages: list[str] = []
            _drawer(backlog, messages)  # a chart process: its imports run as training goes on
            with backlog.changed:
                backlog.messages.extend(messages)
        while True:
            with backlog.changed:
                if not backlog.jobs and not backlog.closed:
                    backlog.changed.wait_for(lambda: backlog.jobs or backlog.closed,
                                             timeout=IDLE_SECONDS)
                if not backlog.jobs or backlog.closed:
                    break
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
        _end_thread(backlog)


def _end_thread(backlog: _Backlog) -> None:
    """The drawing thread ends: its chart process and figures go with it, and the next job
    starts a new thread, which makes its own. The process is closed outside the lock (a
    bounded wait), once the renderer no longer reaches it."""
    with backlog.changed:
        if backlog.thread is not threading.current_thread():
            return
        drawer, backlog.drawer = backlog.drawer, None
        backlog.thread = None
        backlog.changed.notify_all()
    if isinstance(drawer, DrawerProcess):
        drawer.close()


def _run(job: _Job, backlog: _Backlog) -> list[str]:
    """Draw the charts of `job` not drawn yet for its epoch and deliver them; return the
    failures as messages."""
    messages: list[str] = []
    charts = job.charts
    for name in job.names:
        if backlog.closed:  # `close` gave up on this job (it said so): no more drawing
            return messages
        if name in charts.pngs:
            continue
        try:
            charts.pngs[name] = _draw(name, charts, backlog, messages)
        except Exception as error:  # a chart must never take training down
            charts.pngs[name] = None
            messages.append(f"could not draw {name} for epoch {charts.epoch} "
                            f"({type(error).__name__}: {error})")
        if backlog.drawer is not None:
            messages.extend(backlog.drawer.take_notes())
    pngs = {name: png for name in job.names if (png := charts.pngs.get(name)) is not None}
    if backlog.closed:  # nor delivery: the sinks may be closed already
        return messages
    try:
        job.deliver(pngs)
    except Exception as error:  # a sink's failure must not stop the other sinks' charts
        messages.append(f"delivering the charts of epoch {charts.epoch} failed "
                        f"({type(error).__name__}: {error})")
    return messages


def _draw(name: str, charts: _EpochCharts, backlog: _Backlog, messages: list[str]) -> bytes:
    """One chart's PNG: by `draw` when given, else by the chart process, else (where none can
    run) by a `FastCharts` on this thread."""
    if backlog.draw is not None:
        return backlog.draw(name, charts.evaluation, charts.epoch)
    drawer = _drawer(backlog, messages)
    try:
        return drawer.png(name, charts.evaluation, charts.epoch)
    except DrawerUnavailable as error:
        assert isinstance(drawer, DrawerProcess)
        drawer.close()
        backlog.drawer, backlog.in_process = None, True
        messages.append(f"{error}; the charts are drawn in the training process from now on")
        return _draw(name, charts, backlog, messages)


def _drawer(backlog: _Backlog, messages: list[str]) -> DrawerProcess | FastCharts:
    """The drawing thread's drawer, made on first use: a chart process, or where none could
    run, a `FastCharts` on this thread. A process that cannot start is said in `messages`."""
    if backlog.drawer is None and not backlog.in_process:
        drawer = DrawerProcess(stall_seconds=backlog.stall_seconds)
        try:
            drawer.start()
            backlog.drawer = drawer
        except DrawerUnavailable as error:
            backlog.in_process = True
            messages.append(f"{error}; the charts are drawn in the training process from "
                            f"now on")
    if backlog.drawer is None:
        from epoch_eval.charts.fast import FastCharts  # Matplotlib, lazily

        backlog.drawer = FastCharts()
    return backlog.drawer
