"""Draw charts in a separate Python process, so drawing never competes with training for the GIL.

`ChartWorker` (in the training process) sends `ChartJob`s over a pipe to `main()` (in a fresh
Python child that imports neither the user's script nor TensorFlow), which draws and saves them
and answers with the failures. At most `max_pending` jobs are in flight; `submit` waits for a
free slot. If the child cannot start or dies, the jobs it had not finished, and all later ones,
are drawn on a background thread of the training process instead, so no epoch's files go
missing.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import subprocess
import sys
import threading
import warnings
import weakref
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from epoch_eval.metrics.result import Evaluation


@dataclass(frozen=True)
class ChartJob:
    """The charts of one epoch: chart name -> PNG path."""

    epoch: int
    evaluation: Evaluation
    paths: dict[str, str] = field(default_factory=dict)


def draw(job: ChartJob) -> list[str]:
    """Draw and save each chart of `job`; return one message per chart that failed."""
    from epoch_eval.charts import CHART_TITLES, write_chart_png  # Matplotlib, lazily

    failures = []
    for chart, path in job.paths.items():
        try:
            write_chart_png(chart, job.evaluation, path,
                            title=f"Epoch {job.epoch} \u2014 {CHART_TITLES[chart]}")
        except Exception as error:  # a chart must never take training down
            failures.append(f"could not draw {chart} for epoch {job.epoch} "
                            f"({type(error).__name__}: {error})")
    return failures


class ChartWorker:
    """Draws `ChartJob`s off the training thread, with a bounded backlog.

    Args:
        max_pending: jobs in flight at most; `submit` blocks beyond that.
        use_process: draw in a child process (default); False draws on a background thread.
    """

    def __init__(self, *, max_pending: int = 4, use_process: bool = True) -> None:
        self._slots = threading.BoundedSemaphore(max_pending)
        self._lock = threading.Lock()
        self._failures: list[str] = []
        self._in_flight: OrderedDict[int, ChartJob] = OrderedDict()
        self._next_id = 0
        self._threads: ThreadPoolExecutor | None = None
        self._process: subprocess.Popen | None = None
        self._reader: threading.Thread | None = None
        if use_process:
            self._start_process()

    def submit(self, job: ChartJob) -> None:
        """Queue `job`, waiting while `max_pending` jobs are still being drawn."""
        self._slots.acquire()
        with self._lock:
            job_id, self._next_id = self._next_id, self._next_id + 1
            process = self._process
            if process is not None:
                self._in_flight[job_id] = job
        if process is None:
            self._draw_on_thread(job)
            return
        assert process.stdin is not None  # started with stdin=PIPE
        try:
            pickle.dump((job_id, job), process.stdin, protocol=pickle.HIGHEST_PROTOCOL)
            process.stdin.flush()
        except (OSError, ValueError):  # the child is gone; the reader re-routes its jobs
            pass

    def take_failures(self) -> list[str]:
        """The failure messages reported since the last call."""
        with self._lock:
            failures, self._failures = self._failures, []
        return failures

    def close(self) -> list[str]:
        """Wait until every submitted job is drawn, stop the child; return pending failures."""
        with self._lock:
            process = self._process
        if process is not None:
            _end_of_jobs(process)
        if self._reader is not None:
            # also when the child died: the reader hands its unfinished jobs to the thread
            self._reader.join()
            self._reader = None
        with self._lock:
            threads, self._threads = self._threads, None
        if threads is not None:
            threads.shutdown(wait=True)
        return self.take_failures()

    # -- the child process ----------------------------------------------------------------
    def _start_process(self) -> None:
        package_root = str(Path(__file__).resolve().parents[2])
        env = dict(os.environ, MPLBACKEND="Agg",
                   PYTHONPATH=os.pathsep.join(filter(None, [package_root,
                                                            os.environ.get("PYTHONPATH")])))
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-c", "from epoch_eval.sinks.chart_worker import main; main()"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env,
            )
        except OSError as error:
            warnings.warn(f"epoch_eval: could not start the chart process ({error}); drawing "
                          "charts on a background thread instead.", RuntimeWarning, stacklevel=3)
            return
        # If `close` is never called (Keras skips on_train_end when training raises), the child
        # still ends: at the next `close`, or when the interpreter exits.
        weakref.finalize(self, _end_of_jobs, self._process)
        self._reader = threading.Thread(target=self._read_replies, name="epoch_eval-charts",
                                        daemon=True)
        self._reader.start()

    def _read_replies(self) -> None:
        process = self._process
        assert process is not None and process.stdout is not None
        while True:
            try:
                job_id, failures = pickle.load(process.stdout)
            except (EOFError, OSError, pickle.UnpicklingError):
                break
            with self._lock:
                self._in_flight.pop(job_id, None)
                self._failures.extend(failures)
            self._slots.release()
        # The child has stopped: draw here whatever it left undone, and everything after.
        with self._lock:
            self._process = None
            orphans = list(self._in_flight.values())
            self._in_flight.clear()
            exit_code = process.wait()
            if orphans or exit_code != 0:
                self._failures.append(
                    f"the chart process stopped unexpectedly (exit code {exit_code}), so "
                    "charts are drawn on a background thread from now on")
        for job in orphans:
            self._draw_on_thread(job)

    # -- the fallback thread ----------------------------------------------------------------
    def _draw_on_thread(self, job: ChartJob) -> None:
        with self._lock:
            if self._threads is None:
                self._threads = ThreadPoolExecutor(1, thread_name_prefix="epoch_eval-charts")
            threads = self._threads
        threads.submit(self._draw_and_release, job)

    def _draw_and_release(self, job: ChartJob) -> None:
        try:
            failures = draw(job)
        finally:
            self._slots.release()
        with self._lock:
            self._failures.extend(failures)


def _end_of_jobs(process: subprocess.Popen) -> None:
    """Close the child's input: it draws what it has, then exits."""
    with contextlib.suppress(OSError):
        if process.stdin is not None:
            process.stdin.close()


def main() -> None:
    """The child's loop: read jobs from stdin until it closes, answer on stdout."""
    replies = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # stray prints must not corrupt replies
    with contextlib.suppress(OSError):
        os.nice(10)  # training comes first; charts catch up in the gaps
    jobs = sys.stdin.buffer
    while True:
        try:
            job_id, job = pickle.load(jobs)
        except EOFError:
            break
        pickle.dump((job_id, draw(job)), replies, protocol=pickle.HIGHEST_PROTOCOL)
        replies.flush()
