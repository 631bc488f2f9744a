"""Run several local processes of one script that work together (a multi-process fit), and wait
for them with a bound: a hang or a crash becomes a test failure that names every process that
did not finish and the last line it printed, and no process outlives the launch."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """A TCP port on localhost that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("localhost", 0))
        return int(probe.getsockname()[1])


class Launch:
    """Processes started together, each in its own process group, output to its own file
    (never a pipe, which blocks a chatty process once full).

    Use it as a context manager: leaving the block kills whatever still runs.
    """

    def __init__(self, commands: Sequence[Sequence[str]], log_dir: Path,
                 env: dict[str, str] | None = None) -> None:
        log_dir.mkdir(parents=True, exist_ok=True)
        self.logs = [log_dir / f"process_{index}.log" for index in range(len(commands))]
        full_env = {**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1", "PYTHONPATH":
                    os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
        self.processes: list[subprocess.Popen] = []
        try:
            for command, log in zip(commands, self.logs, strict=True):
                with open(log, "wb") as output:
                    self.processes.append(subprocess.Popen(
                        list(command), stdout=output, stderr=subprocess.STDOUT,
                        stdin=subprocess.DEVNULL, env=full_env, cwd=log_dir,
                        start_new_session=True))
        except BaseException:
            self.kill()
            raise

    def __enter__(self) -> Launch:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.kill()

    def output(self, index: int) -> str:
        return self.logs[index].read_text(errors="replace")

    def last_line(self, index: int) -> str:
        lines = [line for line in self.output(index).splitlines() if line.strip()]
        return lines[-1] if lines else "(nothing printed)"

    def wait(self, timeout: float, grace: float = 20.0) -> None:
        """Wait until every process has exited with status 0, at most `timeout` seconds (and
        `grace` seconds more for the others once one has failed, since they may be blocked in a
        collective step waiting for it); otherwise kill them all and fail the test."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            codes = [process.poll() for process in self.processes]
            if all(code is not None for code in codes):
                break
            if any(code not in (None, 0) for code in codes):
                deadline = min(deadline, time.monotonic() + grace)
            running = next(p for p, code in zip(self.processes, codes, strict=True) if code is None)
            with contextlib.suppress(subprocess.TimeoutExpired):
                running.wait(timeout=0.2)
        codes = [process.poll() for process in self.processes]
        if all(code == 0 for code in codes):
            return
        self.kill()
        states = [f"process {index}: " + ("still running (killed)"
                                           if code is None else f"exited with status {code}")
                  + f"; its last line: {self.last_line(index)!r}"
                  for index, code in enumerate(codes) if code != 0]
        pytest.fail(f"{len(states)} of {len(codes)} processes did not finish "
                    f"(bound {timeout:.0f} s):\n" + "\n".join(states), pytrace=False)

    def kill(self) -> None:
        """Kill every process group still running, and reap its leader."""
        for process in self.processes:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def python_commands(script: Path, arguments: Sequence[Sequence[str]]) -> list[list[str]]:
    """One `python script ARGS...` per process, with this interpreter."""
    return [[sys.executable, str(script), *args] for args in arguments]
