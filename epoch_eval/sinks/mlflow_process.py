"""`MlflowProcess`: the child process that makes one run's MLflow calls, every wait bounded.

MLflow's client retries a tracking server that does not answer for minutes (7 retries with
backoff, 120 s timeouts: one `log_metric` took 247 s to fail against a closed port), and a
thread stuck in those retries cannot be stopped. So the calls are made in a child process
(`mlflow_worker`), and the training process only hands it messages:

- no call here waits on MLflow: a message is one non-blocking write of a line on the child's
  standard input (larger payloads, the charts and the evaluation JSON, go through files in a
  private temporary folder, never the working directory); a full pipe drops the message;
- the child answers each message; when the oldest unanswered one has waited `timeout`
  seconds, or the child has died, the process is given up: killed, with one warning naming
  the store, and nothing more is sent;
- `end` waits for the answers and the child's exit on the same terms, then removes the
  temporary folder; a process left running by a `fit` that raised is ended (its run FAILED)
  at the next `end` of its owner or when the training process exits (`atexit`); should the
  training process die without it, the child reads the end of its input, marks the run
  FAILED and removes the temporary folder by itself.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import math
import os
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import warnings
import weakref
from pathlib import Path
from typing import Any

WORKER = str(Path(__file__).with_name("mlflow_worker.py"))
STARTUP_SECONDS = 120.0
"""How long the child may take to import MLflow and open the run (a fresh SQLite store
creates its tables first; a loaded machine is slow)."""
LINE_LIMIT = 4000
"""Messages longer than this go through a file: a pipe write up to 4096 bytes is atomic."""
_BOOT = ("import runpy, sys; del sys.path[0]; sys.argv = sys.argv[1:]; "
         "runpy.run_path(sys.argv[0], run_name='__main__')")


class MlflowStartError(Exception):
    """The child could not open the run; `kind` is "connection" or "value"."""

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


class MlflowProcess:
    """A child process logging into one MLflow run.

    Args:
        tracking_uri: the store, absolute (`sqlite:////abs/path.db`, `http://host:port`, ...).
        run_id: the run to log into; None: the child creates one (and ends it).
        experiment_id: where a created run goes; None: as MLflow's environment says.
        timeout: seconds the oldest unanswered message may wait before the process is given
            up.
        cwd: the child's working directory, where MLflow's relative defaults land (default:
            the private temporary folder, never the training process' working directory).

    Raises:
        MlflowStartError: if the child could not open the run (its reason), or did not answer
            within `STARTUP_SECONDS`.
    """

    def __init__(self, tracking_uri: str, run_id: str | None, experiment_id: str | None, *,
                 timeout: float, cwd: str | None = None) -> None:
        self.tracking_uri = tracking_uri
        self.timeout = timeout
        self.creates_run = run_id is None  # and ends it, unless it is given up
        self.folder = Path(tempfile.mkdtemp(prefix="epoch_eval_mlflow_"))
        settings = {"tracking_uri": tracking_uri, "run_id": run_id,
                    "experiment_id": experiment_id, "folder": str(self.folder)}
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        with open(self.folder / "worker.log", "wb") as log:
            self._process = subprocess.Popen(
                [sys.executable, "-c", _BOOT, WORKER, json.dumps(settings)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                cwd=cwd or self.folder, env=env,
                start_new_session=True)  # Ctrl-C in the terminal must not kill it first
        assert self._process.stdin is not None and self._process.stdout is not None
        self._stdin = self._process.stdin.fileno()
        self._stdout = self._process.stdout.fileno()
        os.set_blocking(self._stdout, False)
        self._lock = threading.Lock()
        self._buffer = b""
        self._sent = 0
        self._pending: set[int] = set()
        self._last_progress = time.monotonic()
        self._messages: list[str] = []
        self._told: set[str] = set()
        self.given_up = False
        self.ended = False
        _LIVE.add(self)
        try:
            self.run_id = self._wait_until_ready()
        except BaseException:
            self._stop()
            raise
        os.set_blocking(self._stdin, False)

    # -- sending --------------------------------------------------------------------------
    def send(self, message: dict[str, Any]) -> None:
        """Hand one message to the child without waiting (see `mlflow_worker` for the
        messages); a message that cannot be handed over is dropped, with a warning later."""
        with self._lock:
            if self.given_up or self.ended:
                return
            self._sent += 1
            seq = self._sent
            message = {**message, "seq": seq}
            try:
                line = json.dumps(message).encode() + b"\n"
                if len(line) > LINE_LIMIT:
                    path = self.folder / f"{seq}.json"
                    path.write_bytes(line)
                    line = json.dumps({"message": str(path)}).encode() + b"\n"
                if not self._pending:  # an idle child is not a stalled one
                    self._last_progress = time.monotonic()
                os.write(self._stdin, line)
                self._pending.add(seq)
            except BlockingIOError:
                self._note("MLflow logging fell behind (the pipe to its process is full), "
                           "so a message was dropped")
            except OSError as error:  # the child is gone
                self._give_up(f"ended unexpectedly ({error}; its log: {self._log_tail()})")

    def write_file(self, name: str, data: bytes) -> str | None:
        """Write `data` into the private folder for the child to read; None if it failed
        (noted) or the process is given up."""
        if self.given_up or self.ended:
            return None
        path = self.folder / name
        try:
            path.write_bytes(data)
        except OSError as error:  # a full disk: that item is not logged
            path.unlink(missing_ok=True)
            with self._lock:
                self._note(f"could not write {path} for MLflow ({error})")
            return None
        return str(path)

    # -- answers and faults ---------------------------------------------------------------
    def poll(self) -> list[str]:
        """Read the child's answers; give the process up if it is stalled or dead; return
        the warnings to emit (each fault once)."""
        with self._lock:
            if not self.given_up and not self.ended:
                self._read_answers()
                self._check_alive()
            messages, self._messages = self._messages, []
        return messages

    def end(self, status: str) -> list[str]:
        """End the run (`"FINISHED"` or `"FAILED"`, if the child created it) and the child:
        wait while it answers (`timeout` since its last answer), else kill it. Removes the
        temporary folder. Returns the warnings to emit."""
        with self._lock:
            if not self.given_up and not self.ended:
                self.ended = True
                try:
                    os.write(self._stdin, json.dumps({"end": status}).encode() + b"\n")
                    if not self._pending:
                        self._last_progress = time.monotonic()
                except BlockingIOError:
                    self._give_up("has not read its input (the pipe is full) at the end of fit")
                except OSError:
                    pass  # it is gone: said below
                while not self.given_up and self._process.poll() is None:
                    left = self._last_progress + self.timeout - time.monotonic()
                    if left <= 0:
                        self._give_up(f"has answered nothing for {self.timeout:g} s at the "
                                      "end of fit")
                        break
                    self._read_answers(wait=min(left, 0.5))
                if not self.given_up:
                    self._read_answers()
                    self._check_alive(exited_ok=True)
            self.ended = True
            messages, self._messages = self._messages, []
        self._stop()
        return messages

    def _wait_until_ready(self) -> str:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            for answer in self._take_answers(wait=min(0.5, deadline - time.monotonic())):
                if "ready" in answer:
                    self._last_progress = time.monotonic()
                    return str(answer["ready"])
                if "fatal" in answer:
                    raise MlflowStartError(answer["fatal"], answer.get("kind", "value"))
            if self._process.poll() is not None:
                raise MlflowStartError(f"the MLflow process ended at start "
                                       f"(exit code {self._process.returncode}): "
                                       f"{self._log_tail()}", "value")
            if time.monotonic() >= deadline:
                raise MlflowStartError(f"the MLflow process opened no run in "
                                       f"{STARTUP_SECONDS:g} s (store {self.tracking_uri}); "
                                       f"its log: {self._log_tail()}", "connection")

    def _read_answers(self, wait: float = 0.0) -> None:
        """Take the answers (lock held): progress, and the errors MLflow reported."""
        for answer in self._take_answers(wait):
            seq = answer.get("done")
            if seq is None:
                continue
            self._pending.discard(seq)
            self._last_progress = time.monotonic()
            error = answer.get("error")
            if error:  # once per kind of error
                self._note(f"MLflow refused an item ({error})", key=error.split(":")[0])

    def _take_answers(self, wait: float) -> list[dict[str, Any]]:
        if wait > 0:  # `poll`, not `select`: any descriptor number, also beyond 1023
            poller = select.poll()
            poller.register(self._stdout, select.POLLIN)
            poller.poll(math.ceil(wait * 1000))
        try:
            while chunk := os.read(self._stdout, 65536):
                self._buffer += chunk
        except BlockingIOError:
            pass
        *lines, self._buffer = self._buffer.split(b"\n")
        return [json.loads(line) for line in lines if line.strip()]

    def _check_alive(self, *, exited_ok: bool = False) -> None:
        """Give up (lock held) on a child that died or has answered nothing for `timeout`."""
        if self._process.poll() is not None:
            if not exited_ok:
                self._give_up(f"ended unexpectedly (exit code {self._process.returncode}; "
                              f"its log: {self._log_tail()})")
            elif self._pending:
                self._note(f"MLflow did not confirm {len(self._pending)} item(s) before the "
                           f"end of the run")
        elif self._pending and time.monotonic() - self._last_progress > self.timeout:
            self._give_up(f"has answered nothing for {self.timeout:g} s")

    def _give_up(self, why: str) -> None:
        """Kill the child (lock held) and say so once, naming the store."""
        self.given_up = True
        self._kill()
        left = (" (the run it started is left RUNNING: nothing can reach the store to end it)"
                if self.creates_run else "")
        self._note(f"the MLflow tracking store {self.tracking_uri} {why}: MlflowLogs stops "
                   f"logging to run {getattr(self, 'run_id', '?')} for this fit{left}")

    def _note(self, message: str, *, key: str | None = None) -> None:
        """Keep a warning for the training thread (lock held), once per `key` (the text)."""
        key = message if key is None else key
        if key not in self._told:
            self._told.add(key)
            self._messages.append(message)

    def _log_tail(self) -> str:
        try:
            text = (self.folder / "worker.log").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "no log"
        return " | ".join(text.strip().splitlines()[-3:]) or "no log"

    def _kill(self) -> None:
        if self._process.poll() is None:
            self._process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):  # stuck in the kernel
                self._process.wait(timeout=10)

    def _stop(self) -> None:
        """Kill the child if it still runs, close the pipes, remove the temporary folder."""
        self._kill()
        for stream in (self._process.stdin, self._process.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        shutil.rmtree(self.folder, ignore_errors=True)
        _LIVE.discard(self)


_LIVE: weakref.WeakSet[MlflowProcess] = weakref.WeakSet()


@atexit.register
def _end_left_runs() -> None:
    """At exit, end the runs of fits that raised (Keras calls no callback then) as FAILED."""
    for process in list(_LIVE):
        for message in process.end("FAILED"):
            warnings.warn(f"epoch_eval: {message}.", RuntimeWarning, stacklevel=1)
