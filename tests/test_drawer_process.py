"""The chart process' faults: killed, stopped, unable to start, a poisoned working directory,
its parent killed; and that it draws what `FastCharts` draws."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import psutil
import pytest

from epoch_eval import evaluate
from epoch_eval.charts.fast import FastCharts
from epoch_eval.sinks import drawer_process, rendering
from epoch_eval.sinks.drawer_process import DrawerProcess
from epoch_eval.sinks.rendering import ChartRenderer

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(os.name != "posix", reason="the chart process needs POSIX")


@pytest.fixture(scope="module")
def evaluation():
    rng = np.random.default_rng(1)
    y_true = rng.integers(0, 4, 300)
    scores = rng.dirichlet(np.ones(4), 300)
    scores[np.arange(300), y_true] += 0.8
    return evaluate(y_true, scores / scores.sum(axis=1, keepdims=True))


@pytest.fixture
def drawer():
    made = DrawerProcess(stall_seconds=60)
    yield made
    made.close()


def gone(pid: int, seconds: float = 30) -> bool:
    """Wait (bounded) until process `pid` no longer exists; whether it is gone."""
    deadline = time.monotonic() + seconds
    while psutil.pid_exists(pid) and time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return False  # ended but not reaped: a leak of ours
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.02)
    return not psutil.pid_exists(pid)


def test_it_draws_what_fast_charts_draws_and_sends_an_epochs_evaluation_once(
        drawer, evaluation, monkeypatch):
    sent: list[int] = []
    real_send = drawer_process._send
    monkeypatch.setattr(drawer_process, "_send",
                        lambda stream, data, clock: (sent.append(len(data)),
                                                     real_send(stream, data, clock)))
    here = FastCharts()
    for name in ("confusion_matrix", "roc_curve", "pr_curve"):
        assert drawer.png(name, evaluation, 3) == here.png(name, evaluation, 3)
    assert sent[0] > 10_000 and max(sent[1:]) < 200  # later requests name the evaluation only


def test_a_failing_chart_raises_its_own_error_and_the_process_goes_on(drawer, evaluation):
    drawer.png("roc_curve", evaluation, 1)
    pid = drawer.pid
    with pytest.raises(ValueError, match="Unknown chart name"):
        drawer.png("pie_chart", evaluation, 1)
    assert drawer.png("pr_curve", evaluation, 1).startswith(b"\x89PNG")
    assert drawer.pid == pid


def test_a_killed_process_is_named_and_the_next_chart_starts_a_new_one(drawer, evaluation):
    drawer.png("roc_curve", evaluation, 1)
    pid = drawer.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    with pytest.raises(RuntimeError, match=rf"\(pid {pid}\) was killed by SIGKILL; the next"):
        drawer.png("roc_curve", evaluation, 2)
    assert gone(pid)  # reaped, not a zombie
    assert drawer.png("roc_curve", evaluation, 3).startswith(b"\x89PNG")
    assert drawer.pid not in (None, pid)


def test_a_stopped_process_is_killed_after_the_stall_bound(evaluation):
    drawer = DrawerProcess(stall_seconds=60)
    try:
        drawer.png("roc_curve", evaluation, 1)
        pid = drawer.pid
        assert pid is not None
        os.kill(pid, signal.SIGSTOP)
        drawer.stall_seconds = 1.0
        start = time.monotonic()
        with pytest.raises(RuntimeError, match=rf"\(pid {pid}\) answered nothing for 1 s"):
            drawer.png("pr_curve", evaluation, 2)
        assert time.monotonic() - start < 30  # bounded: 1 s, on a busy machine more
        assert gone(pid)
    finally:
        drawer.close()


def test_a_renderer_whose_chart_process_is_stopped_closes_in_bounded_time(evaluation):
    renderer = ChartRenderer(stall_seconds=2.0)
    first = threading.Event()
    renderer.charts_of(1, evaluation).request(["roc_curve"], lambda pngs: first.set())
    assert first.wait(60)
    pid = renderer.drawer_pid()
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)
    received: list[dict[str, bytes]] = []
    renderer.charts_of(2, evaluation).request(["roc_curve"], received.append)
    with pytest.warns(RuntimeWarning) as caught:
        renderer.close()
    messages = [str(w.message) for w in caught]
    assert any("finished nothing for 2 s, so the charts of epoch 2 are not written" in m
               for m in messages), messages
    assert any(f"could not draw roc_curve for epoch 2 (RuntimeError: the chart process (pid "
               f"{pid})" in m for m in messages), messages
    assert received == []  # given up at close: nothing delivered to sinks closed next
    assert gone(pid)
    assert not renderer.is_drawing()


def test_no_module_is_imported_from_the_working_directory(drawer, evaluation, tmp_path,
                                                          monkeypatch):
    marker = tmp_path / "imported"
    for module in ("matplotlib", "numpy", "epoch_eval"):
        (tmp_path / f"{module}.py").write_text(f"open({str(marker)!r}, 'a').write('{module}')\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))  # as `python -m` or a notebook puts it first
    assert drawer.png("confusion_matrix", evaluation, 1).startswith(b"\x89PNG")
    assert not marker.exists()


@pytest.mark.parametrize("executable", ["/nonexistent/python", "/bin/false"])
def test_without_a_chart_process_the_charts_are_drawn_here_said_once(evaluation, monkeypatch,
                                                                     executable):
    monkeypatch.setattr(drawer_process.sys, "executable", executable)
    renderer = ChartRenderer()
    received: list[dict[str, bytes]] = []
    with pytest.warns(RuntimeWarning) as caught:
        for epoch in (1, 2):
            renderer.charts_of(epoch, evaluation).request(["roc_curve", "pr_curve"],
                                                          received.append)
        renderer.close()
    messages = [str(w.message) for w in caught]
    assert len(messages) == 1, messages
    assert "drawn in the training process from now on" in messages[0]
    assert ("could not start" if executable.startswith("/nonexistent")
            else "ended with exit code 1 before its first chart") in messages[0]
    assert [sorted(pngs) for pngs in received] == [["pr_curve", "roc_curve"]] * 2
    assert all(png.startswith(b"\x89PNG") for pngs in received for png in pngs.values())


def test_the_chart_process_ends_when_its_parent_is_killed(tmp_path):
    """No `close`, no `atexit`: the child sees its stdin close and exits."""
    script = textwrap.dedent(f"""
        import os, signal, sys
        sys.path.insert(0, {str(ROOT)!r}); sys.path.insert(0, {str(ROOT / "tests")!r})
        from chart_evaluations import binary
        from epoch_eval.sinks.drawer_process import DrawerProcess
        drawer = DrawerProcess(stall_seconds=60)
        drawer.png("roc_curve", binary(), 1)
        print(drawer.pid, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    parent = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=120, check=False)
    assert parent.returncode == -signal.SIGKILL, parent.stderr
    child = int(parent.stdout.split()[0])
    deadline = time.monotonic() + 30
    while psutil.pid_exists(child) and time.monotonic() < deadline:
        try:  # orphaned, it is reaped by init once it exits
            if psutil.Process(child).status() == psutil.STATUS_ZOMBIE:
                break
        except psutil.NoSuchProcess:
            break
        time.sleep(0.02)
    with contextlib.suppress(psutil.NoSuchProcess):  # gone: reaped
        assert psutil.Process(child).status() == psutil.STATUS_ZOMBIE


def test_close_reaps_the_process_and_kills_one_that_does_not_end(evaluation, monkeypatch):
    monkeypatch.setattr(drawer_process, "CLOSE_SECONDS", 0.5)
    drawer = DrawerProcess(stall_seconds=60)
    drawer.png("roc_curve", evaluation, 1)
    pid = drawer.pid
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)  # it cannot read the end of its input
    drawer.close()
    assert drawer.pid is None
    assert gone(pid)


def test_the_renderer_uses_the_chart_process_by_default(evaluation, monkeypatch):
    monkeypatch.setattr(rendering, "IDLE_SECONDS", 60.0)
    renderer = ChartRenderer()
    pids: list[int | None] = []
    renderer.charts_of(1, evaluation).request(
        ["roc_curve"], lambda pngs: pids.append(renderer.drawer_pid()))
    renderer.close()
    assert pids and pids[0] is not None and pids[0] != os.getpid()


def test_a_sink_that_draws_has_the_chart_process_started_with_the_renderer(tmp_path):
    from epoch_eval import HistoryLogs, PngFolder, Stdout

    renderer = ChartRenderer.for_sinks([HistoryLogs(), PngFolder(tmp_path)])
    deadline = time.monotonic() + 30
    while renderer.drawer_pid() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    pid = renderer.drawer_pid()
    assert pid is not None  # before any chart was requested
    renderer.close()
    assert gone(pid)
    without = ChartRenderer.for_sinks([HistoryLogs(), Stdout()])
    assert not without.is_drawing() and without.drawer_pid() is None
    without.close()


def test_the_charts_follow_the_training_process_matplotlib_settings(evaluation):
    import matplotlib

    plain = FastCharts().png("roc_curve", evaluation, 1)
    with matplotlib.rc_context({"axes.facecolor": "#ffe0e0", "font.size": 12}):
        here = FastCharts().png("roc_curve", evaluation, 1)
        drawer = DrawerProcess(stall_seconds=60)
        try:
            there = drawer.png("roc_curve", evaluation, 1)
        finally:
            drawer.close()
    assert there == here != plain


LINUX_POLICIES = pytest.mark.skipif(not hasattr(os, "sched_getscheduler"),
                                    reason="Linux scheduling policies")


@LINUX_POLICIES
def test_a_chart_answered_in_time_leaves_the_process_on_idle_cores(drawer, evaluation,
                                                                   monkeypatch):
    # a promotion deadline no chart reaches however loaded the machine: the child can only
    # leave SCHED_IDLE here if something other than a waiting chart moves it
    monkeypatch.setattr(drawer_process, "PROMOTE_SECONDS", 120.0)
    drawer.png("roc_curve", evaluation, 1)
    pid = drawer.pid
    assert pid is not None
    assert os.sched_getscheduler(pid) == os.SCHED_IDLE
    assert psutil.Process(pid).nice() == drawer_process.NICENESS


def large_evaluation():
    """An evaluation whose pickle is far beyond a pipe's 64 KiB."""
    rng = np.random.default_rng(2)
    y_true = rng.integers(0, 10, 3000)
    scores = rng.dirichlet(np.ones(10), 3000)
    return evaluate(y_true, scores)


@LINUX_POLICIES
@pytest.mark.parametrize("request_size", ["within_a_pipe", "beyond_a_pipe"])
def test_a_new_process_starved_while_a_chart_waits_is_promoted(drawer, evaluation,
                                                               request_size):
    # a fresh child (a first chart drawn on a loaded machine may itself outlast
    # PROMOTE_SECONDS, and rightly promote it); a request within a pipe's 64 KiB is sent at
    # once and the reply waits, a larger one waits in the send for the child to read it
    chart_of = evaluation if request_size == "within_a_pipe" else large_evaluation()
    pid = drawer.start().pid
    assert os.sched_getscheduler(pid) == os.SCHED_IDLE  # from its start, set by us
    assert psutil.Process(pid).nice() == drawer_process.NICENESS
    os.kill(pid, signal.SIGSTOP)  # as starved: it reads and answers nothing for a while
    result: list[bytes] = []
    waiting = threading.Thread(target=lambda: result.append(drawer.png("pr_curve",
                                                                       chart_of, 1)))
    start = time.monotonic()
    waiting.start()
    deadline = start + 30
    while os.sched_getscheduler(pid) == os.SCHED_IDLE and time.monotonic() < deadline:
        time.sleep(0.02)
    assert os.sched_getscheduler(pid) == os.SCHED_OTHER  # while the exchange still waits
    assert time.monotonic() - start >= drawer_process.PROMOTE_SECONDS  # not at once
    assert psutil.Process(pid).nice() == drawer_process.NICENESS  # still below training
    os.kill(pid, signal.SIGCONT)
    waiting.join(60)
    assert result and result[0].startswith(b"\x89PNG")
    assert drawer.pid == pid


def test_a_failure_inside_the_exchange_stops_the_process_and_names_it(drawer, evaluation,
                                                                      monkeypatch):
    drawer.png("roc_curve", evaluation, 1)
    pid = drawer.pid
    assert pid is not None

    def broken(fd, events, seconds):
        raise ValueError("filedescriptor out of range in select()")

    monkeypatch.setattr(drawer_process, "_ready", broken)
    with pytest.raises(RuntimeError, match=rf"\(pid {pid}\) failed \(ValueError: filedescriptor"):
        drawer.png("pr_curve", evaluation, 2)
    assert gone(pid)
    monkeypatch.undo()
    assert drawer.png("pr_curve", evaluation, 3).startswith(b"\x89PNG")  # a new one


@pytest.mark.parametrize("answered_before", [False, True])
def test_a_renderer_that_gives_up_at_close_draws_nothing_more_and_starts_nothing(
        evaluation, answered_before):
    renderer = ChartRenderer(stall_seconds=2.0)
    if answered_before:
        first = threading.Event()
        renderer.charts_of(1, evaluation).request(["roc_curve"], lambda pngs: first.set())
        assert first.wait(60)
    else:
        renderer.start_drawer()
    deadline = time.monotonic() + 30
    while renderer.drawer_pid() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    pid = renderer.drawer_pid()
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)  # stuck on the next chart
    received: list[dict[str, bytes]] = []
    renderer.charts_of(2, evaluation).request(["roc_curve", "pr_curve", "confusion_matrix"],
                                              received.append)
    with pytest.warns(RuntimeWarning) as caught:
        renderer.close()
    messages = [str(w.message) for w in caught]
    assert any("charts of epoch 2 are not written" in m for m in messages), messages
    assert not any("training process from now on" in m for m in messages), messages
    assert gone(pid)
    assert not renderer.is_drawing()
    assert received == []  # nothing delivered to sinks that may be closed
    assert renderer._backlog.in_process is False  # no Matplotlib drawn in this process
    assert not [p for p in psutil.Process().children(recursive=True)
                if p.is_running() and p.status() != psutil.STATUS_ZOMBIE
                and "drawer_process" in " ".join(p.cmdline())]
