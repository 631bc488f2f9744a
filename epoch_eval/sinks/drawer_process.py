"""`DrawerProcess`: the charts drawn by `FastCharts` in a child process, so that Matplotlib never
holds the training process' GIL.

The drawing thread of `ChartRenderer` sends the child one chart request at a time down a pipe
and waits for its PNG with the GIL free (`select`), so the training loop runs at full speed
while the child draws. Each fault is bounded and named:

- every exchange has a deadline (`stall_seconds`): a child that is stopped, stuck or too slow
  is killed, the chart fails with an error that says so, and the next chart starts a new child;
- a child that dies (killed, out of memory) is an error naming its exit code; the next chart
  starts a new one;
- a child that cannot start, or dies before its first chart (an import that fails in it), is
  said once, and the charts are drawn on the calling thread from then on (`FastCharts`);
- the child imports nothing from the working directory: it runs `python -I` (no `PYTHON*`
  variables, no user site, no current directory on its path) with the parent's `sys.path`
  less the current directory, and loads `epoch_eval` from the very files the parent runs
  (its charts and the `Evaluation` type only: no SciPy, about 0.45 s of CPU to start);
- it never outlives its parent: `close` ends it, it ends when its stdin closes (the parent's
  exit, however it happens), and an `atexit` hook kills any child still running.

The charts follow the training process' Matplotlib settings (`rcParams` changed at run time,
a style), as they are when the process' first chart is requested.

The protocol: length-prefixed pickles. Request `(name, epoch, evaluation | None, settings |
None)`, where None means "the evaluation of the previous request" (three charts of an epoch
send it once) and `settings` are the training process' changed `rcParams` (until the first
reply). Reply `(png | None, exception | None, notes)`.
"""

from __future__ import annotations

import atexit
import contextlib
import math
import os
import pickle
import select
import signal
import struct
import subprocess
import sys
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from epoch_eval.metrics.result import Evaluation

_HEADER = struct.Struct("!Q")
NICENESS = 10
"""How much lower the chart process' scheduling priority is than training's."""
PROMOTE_SECONDS = 1.0
"""A chart not answered this long has its process moved from `SCHED_IDLE` (where it runs only
on a core nothing else wants) to the normal policy at `NICENESS`, for good: on a machine kept
busy by others, an idle-policy process would hardly run."""
CLOSE_SECONDS = 2.0
"""How long `close` waits for the terminated child before it is killed."""

_BOOT = """\
import sys, types
root, *path = sys.argv[1:]
sys.path[:] = path
# the packages without their __init__: the charts need neither SciPy nor the other sinks
for name, folder in (("epoch_eval", ""), ("epoch_eval.metrics", "/metrics"),
                     ("epoch_eval.sinks", "/sinks")):
    package = types.ModuleType(name)
    package.__path__ = [root + folder]
    sys.modules[name] = package
from epoch_eval.sinks.drawer_process import serve
serve()
"""

_LIVE: weakref.WeakSet[DrawerProcess] = weakref.WeakSet()


class DrawerUnavailable(RuntimeError):
    """The child could not start or died before drawing anything: draw in this process."""


class DrawerProcess:
    """One child process that draws chart PNGs with one `FastCharts` for a whole `fit`.

    Not thread-safe: one drawing thread calls `png`; `kill` may be called from any thread.

    Args:
        stall_seconds: the longest a chart may take (sending the request, drawing, replying)
            before the child is killed and the chart fails.
    """

    def __init__(self, stall_seconds: float) -> None:
        self.stall_seconds = stall_seconds
        self._child: subprocess.Popen[bytes] | None = None
        self._answered = False  # whether the current child has replied once
        self._sent: Evaluation | None = None  # the evaluation the current child holds
        self._notes: list[str] = []
        _LIVE.add(self)

    @property
    def pid(self) -> int | None:
        """The child's process id, or None when none runs."""
        child = self._child
        return None if child is None else child.pid

    def png(self, name: str, evaluation: Evaluation, epoch: int) -> bytes:
        """Chart `name` of `evaluation` at `epoch`, drawn in the child.

        Raises:
            DrawerUnavailable: the child could not start or died before its first reply.
            RuntimeError: the child died, stalled or was killed while drawing this chart.
            Exception: what `FastCharts.png` raised in the child for this chart (a
                `ValueError` for an unknown name, ...), re-raised here.
        """
        child = self.start()
        settings = _matplotlib_settings() if not self._answered else None
        payload = pickle.dumps((name, epoch, None if evaluation is self._sent else evaluation,
                                settings), protocol=pickle.HIGHEST_PROTOCOL)
        deadline = time.monotonic() + self.stall_seconds
        try:
            assert child.stdin is not None and child.stdout is not None
            _send(child.stdin, _HEADER.pack(len(payload)) + payload, deadline)
            self._sent = evaluation
            reply = _receive(child.stdout, deadline, lambda: self._promote(child))
        except (OSError, EOFError, TimeoutError) as error:
            self._fail(child, error)
        self._answered = True
        png, failure, notes = pickle.loads(reply)
        self._notes.extend(notes)
        if failure is not None:
            raise failure
        assert isinstance(png, bytes)
        return png

    def take_notes(self) -> list[str]:
        """What the user should be told (from the child's `FastCharts`), once."""
        notes, self._notes = self._notes, []
        return notes

    def close(self) -> None:
        """End the child and reap it (no zombie is left): it holds nothing to save once its
        last reply is read, so it is terminated (its Python's own teardown of Matplotlib
        would take 0.2 s), and killed if it is still there after `CLOSE_SECONDS`."""
        child, self._child = self._child, None
        self._sent = None
        if child is None:
            return
        _close_quietly(child.stdin)
        with contextlib.suppress(OSError):  # it ended meanwhile
            child.terminate()
        try:
            child.wait(CLOSE_SECONDS)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        _close_quietly(child.stdout)

    def _promote(self, child: subprocess.Popen[bytes]) -> None:
        """Move a slow child from `SCHED_IDLE` to the normal policy (it keeps its nice)."""
        if hasattr(os, "sched_setscheduler"):
            with contextlib.suppress(OSError):  # not Linux, or not allowed: it stays idle
                os.sched_setscheduler(child.pid, os.SCHED_OTHER, os.sched_param(0))

    def kill(self) -> None:
        """Kill the child now (from any thread): a `png` waiting on it fails at once. The
        drawing thread reaps it in `close`."""
        child = self._child
        if child is not None and child.poll() is None:
            with contextlib.suppress(OSError):  # it ended meanwhile
                child.kill()

    def start(self) -> subprocess.Popen[bytes]:
        """Start the child unless it runs (it imports Matplotlib: about 1 s of CPU, its own).

        Raises:
            DrawerUnavailable: no child process can start here.
        """
        if self._child is not None:
            return self._child
        if os.name != "posix":
            raise DrawerUnavailable("the chart process needs a POSIX system (select on pipes)")
        package = Path(__file__).resolve().parents[1]
        here = os.getcwd()
        path = [entry for entry in sys.path if entry and os.path.abspath(entry) != here]
        environment = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
                       "MKL_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
        try:
            child = subprocess.Popen(
                [sys.executable, "-I", "-c", _BOOT, str(package), *path],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                env=environment, close_fds=True, start_new_session=True)
        except OSError as error:
            raise DrawerUnavailable(f"the chart process could not start ({error})") from error
        assert child.stdin is not None and child.stdout is not None
        os.set_blocking(child.stdin.fileno(), False)
        os.set_blocking(child.stdout.fileno(), False)
        self._child, self._answered, self._sent = child, False, None
        return child

    def _fail(self, child: subprocess.Popen[bytes], error: Exception) -> Any:
        """The child cannot serve this chart: kill and reap it, and raise why."""
        stalled = isinstance(error, TimeoutError)
        answered = self._answered
        self.kill()
        self.close()
        code = child.returncode
        if stalled:
            raise RuntimeError(f"the chart process (pid {child.pid}) answered nothing for "
                               f"{self.stall_seconds:g} s and was stopped") from None
        if code is not None and code < 0:
            ended = f"was killed by {_signal_name(-code)}"
        else:
            ended = f"ended with exit code {code}"
        if not answered:
            raise DrawerUnavailable(f"the chart process (pid {child.pid}) {ended} before its "
                                    f"first chart") from None
        raise RuntimeError(f"the chart process (pid {child.pid}) {ended}; the next chart "
                           f"starts a new one") from None


def _matplotlib_settings() -> dict[str, Any] | None:
    """The `rcParams` of the training process that differ from Matplotlib's defaults (the
    child reads the same `matplotlibrc`; a style set at run time it would not know), or None
    when Matplotlib is not imported here."""
    matplotlib = sys.modules.get("matplotlib")
    if matplotlib is None:
        return None
    defaults = matplotlib.rcParamsDefault
    changed = {}
    for key, value in matplotlib.rcParams.items():
        if key.startswith("backend") or key == "interactive":
            continue
        try:
            if value != defaults.get(key):
                pickle.dumps(value)
                changed[key] = value
        except Exception:  # a value that cannot be compared or sent
            continue
    return changed


def _send(stream: IO[bytes], data: bytes, deadline: float) -> None:
    view = memoryview(data)
    while view:
        if not select.select([], [stream], [], _left(deadline))[1]:
            continue  # `_left` raises once the deadline passed
        try:
            written = os.write(stream.fileno(), view)
        except BlockingIOError:
            continue
        view = view[written:]


def _receive(stream: IO[bytes], deadline: float, promote: Callable[[], None]) -> bytes:
    """The next reply; `promote()` once if none came for `PROMOTE_SECONDS`."""
    promote_at = time.monotonic() + PROMOTE_SECONDS
    (size,) = _HEADER.unpack(_read(stream, _HEADER.size, deadline, promote_at, promote))
    return _read(stream, size, deadline)


def _read(stream: IO[bytes], size: int, deadline: float, promote_at: float = math.inf,
          promote: Callable[[], None] | None = None) -> bytes:
    chunks: list[bytes] = []
    left = size
    while left:
        wait = _left(deadline)
        if promote is not None:
            wait = min(wait, max(promote_at - time.monotonic(), 0.0))
        if not select.select([stream], [], [], wait)[0]:
            if promote is not None and time.monotonic() >= promote_at:
                promote()
                promote = None
            continue
        try:
            chunk = os.read(stream.fileno(), min(left, 1 << 20))
        except BlockingIOError:
            continue
        if not chunk:
            raise EOFError("the chart process closed its output")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _left(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError
    return left


def _close_quietly(stream: IO[bytes] | None) -> None:
    if stream is not None:
        with contextlib.suppress(OSError):  # a full pipe to a dead child
            stream.close()


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


@atexit.register
def _kill_children() -> None:
    """At exit, no chart process outlives the training process (its drawing thread, a daemon,
    may be stopped mid-chart)."""
    for drawer in list(_LIVE):
        drawer.kill()


def _reply(png: bytes | None, failure: Exception | None, notes: list[str]) -> bytes:
    try:
        return pickle.dumps((png, failure, notes), protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:  # an exception that does not pickle: its type and message do
        failure = RuntimeError(f"{type(failure).__name__}: {failure}")
        return pickle.dumps((png, failure, notes), protocol=pickle.HIGHEST_PROTOCOL)


def serve(source: IO[bytes] | None = None, sink: IO[bytes] | None = None) -> None:
    """The child's loop: read requests until stdin closes, answer each with a PNG or an error.

    Anything the child prints goes to stderr, not into the replies.
    """
    if source is None or sink is None:
        source = os.fdopen(os.dup(0), "rb")
        sink = os.fdopen(os.dup(1), "wb")
        os.dup2(2, 1)  # a stray print() must not corrupt the replies
        with contextlib.suppress(OSError):
            os.nice(NICENESS)  # training first: the charts may lag by `max_pending` epochs
        if hasattr(os, "sched_setscheduler"):
            # a core the training does not want right now, not one it would have to win
            # back: at a mere nice, each of TensorFlow's parallel steps waits for the
            # scheduler to hand it back (a fit 1.5x as long beside a busy loop at nice 19)
            with contextlib.suppress(OSError):
                os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    from epoch_eval.charts.fast import FastCharts

    charts = FastCharts()
    evaluation = None
    while True:
        header = source.read(_HEADER.size)
        if len(header) < _HEADER.size:
            return
        name, epoch, sent, settings = pickle.loads(source.read(_HEADER.unpack(header)[0]))
        if settings:
            import matplotlib

            with contextlib.suppress(Exception):  # a setting this Matplotlib refuses
                matplotlib.rcParams.update(settings)
        if sent is not None:
            evaluation = sent
        png, failure = None, None
        try:
            png = charts.png(name, evaluation, epoch)  # type: ignore[arg-type]
        except Exception as error:  # the parent raises it and warns; the child goes on
            failure = error
        reply = _reply(png, failure, charts.take_notes())
        sink.write(_HEADER.pack(len(reply)) + reply)
        sink.flush()
