"""`DrawerProcess`: the charts drawn by `FastCharts` in a child process, so that Matplotlib never
holds the training process' GIL.

The drawing thread of `ChartRenderer` sends the child one chart request at a time down a pipe
and waits for its PNG with the GIL free (`poll`), so the training loop runs at full speed
while the child draws (the child runs at `NICENESS` and, on Linux, `SCHED_IDLE`, moved to the
normal policy when a chart waits `PROMOTE_SECONDS`). Each fault is bounded and named:

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
  exit, however it happens), and an `atexit` hook kills any child still running; after
  `kill` (a renderer that gave up waiting at `close`) the drawer draws nothing more.

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
        self._stopped = False  # `kill` was called: no chart is drawn any more
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
            RuntimeError: the child died, stalled or was killed while drawing this chart, or
                `kill` stopped this drawer.
            Exception: what `FastCharts.png` raised in the child for this chart (a
                `ValueError` for an unknown name, ...), re-raised here.
        """
        child = self.start()
        settings = _matplotlib_settings() if not self._answered else None
        payload = pickle.dumps((name, epoch, None if evaluation is self._sent else evaluation,
                                settings), protocol=pickle.HIGHEST_PROTOCOL)
        # one bound for the whole exchange, and one promotion: a child starved while it still
        # imports (a request larger than the pipe waits for it) is promoted as one slow to reply
        clock = _Clock(self.stall_seconds, lambda: _promote(child.pid))
        try:
            assert child.stdin is not None and child.stdout is not None
            _send(child.stdin, _HEADER.pack(len(payload)) + payload, clock)
            self._sent = evaluation
            reply = _receive(child.stdout, clock)
        except Exception as error:  # any failure of the exchange leaves it half done
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
            with contextlib.suppress(subprocess.TimeoutExpired):  # stuck in the kernel
                child.wait(CLOSE_SECONDS)
        _close_quietly(child.stdout)

    def kill(self) -> None:
        """Kill the child now and draw nothing more (from any thread: `close` of a renderer
        that gave up waiting, or the exit of the training process). A `png` waiting on it
        fails at once, and any later `png` too; the drawing thread reaps it in `close`."""
        self._stopped = True
        self._kill_child()

    def _kill_child(self) -> None:
        child = self._child
        if child is not None and child.poll() is None:
            with contextlib.suppress(OSError):  # it ended meanwhile
                child.kill()

    def start(self) -> subprocess.Popen[bytes]:
        """Start the child unless it runs (it imports Matplotlib: about 1 s of CPU, its own).

        Raises:
            DrawerUnavailable: no child process can start here.
        """
        if self._stopped:
            raise RuntimeError("the chart process was stopped")
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
        _lower_priority(child.pid)  # here, not in the child: no promotion can come before it
        assert child.stdin is not None and child.stdout is not None
        os.set_blocking(child.stdin.fileno(), False)
        os.set_blocking(child.stdout.fileno(), False)
        self._child, self._answered, self._sent = child, False, None
        return child

    def _fail(self, child: subprocess.Popen[bytes], error: Exception) -> Any:
        """The child cannot serve this chart: kill and reap it, and raise why."""
        stalled = isinstance(error, TimeoutError)
        answered = self._answered
        self._kill_child()
        self.close()
        code = child.returncode
        if self._stopped:
            raise RuntimeError(f"the chart process (pid {child.pid}) was stopped") from None
        if not isinstance(error, (OSError, EOFError, TimeoutError)):
            raise RuntimeError(f"the exchange with the chart process (pid {child.pid}) failed "
                               f"({type(error).__name__}: {error}); it was stopped, and the "
                               f"next chart starts a new one") from None
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


class _Clock:
    """The bounds of one exchange with the child: its deadline, and the moment the child is
    promoted (once) if the exchange is still going on."""

    def __init__(self, stall_seconds: float, promote: Callable[[], None]) -> None:
        now = time.monotonic()
        self.deadline = now + stall_seconds
        self.promote_at = now + PROMOTE_SECONDS
        self._promote: Callable[[], None] | None = promote

    def wait(self) -> float:
        """How long the next poll may wait; promotes the child when due.

        Raises:
            TimeoutError: the deadline has passed.
        """
        now = time.monotonic()
        if now >= self.deadline:
            raise TimeoutError
        if self._promote is not None:
            if now < self.promote_at:
                return min(self.deadline, self.promote_at) - now
            promote, self._promote = self._promote, None
            promote()
        return self.deadline - now


def _ready(fd: int, events: int, seconds: float) -> bool:
    """Whether `fd` is ready for `events` (or closed at the other end) within `seconds`.
    `poll`, not `select`: it takes any descriptor number, also beyond 1023."""
    poller = select.poll()
    poller.register(fd, events)
    return bool(poller.poll(math.ceil(seconds * 1000)))


def _send(stream: IO[bytes], data: bytes, clock: _Clock) -> None:
    view = memoryview(data)
    while view:
        if not _ready(stream.fileno(), select.POLLOUT, clock.wait()):
            continue  # `clock.wait` raises once the deadline passed
        try:
            written = os.write(stream.fileno(), view)
        except BlockingIOError:
            continue
        view = view[written:]


def _receive(stream: IO[bytes], clock: _Clock) -> bytes:
    """The next reply."""
    (size,) = _HEADER.unpack(_read(stream, _HEADER.size, clock))
    return _read(stream, size, clock)


def _read(stream: IO[bytes], size: int, clock: _Clock) -> bytes:
    chunks: list[bytes] = []
    left = size
    while left:
        if not _ready(stream.fileno(), select.POLLIN, clock.wait()):
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


def _lower_priority(pid: int) -> None:
    """Training first: the child at `NICENESS` below this process and, on Linux, under
    `SCHED_IDLE`, on a core the training does not want right now rather than one it would
    have to win back (at a mere nice, each of TensorFlow's parallel steps waits for the
    scheduler to hand it back: a fit 1.5x as long beside a busy loop at nice 19). Set by
    the parent, which alone promotes it later, so the two cannot cross."""
    with contextlib.suppress(OSError):  # not allowed: it runs at training's priority
        niceness = min(19, os.getpriority(os.PRIO_PROCESS, 0) + NICENESS)
        os.setpriority(os.PRIO_PROCESS, pid, niceness)
    if hasattr(os, "sched_setscheduler"):
        with contextlib.suppress(OSError):  # not Linux, or not allowed: nice alone
            os.sched_setscheduler(pid, os.SCHED_IDLE, os.sched_param(0))


def _promote(pid: int) -> None:
    """Move a slow child from `SCHED_IDLE` to the normal policy (it keeps its nice)."""
    if hasattr(os, "sched_setscheduler"):
        with contextlib.suppress(OSError):  # not Linux, not allowed, or gone: it stays
            os.sched_setscheduler(pid, os.SCHED_OTHER, os.sched_param(0))


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
