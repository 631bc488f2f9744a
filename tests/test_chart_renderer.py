"""The chart renderer's faults, without Keras: stalls, failures, backlog, files, warnings."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from epoch_eval import EpochResult, PngFolder, evaluate
from epoch_eval.sinks import outputs, rendering
from epoch_eval.sinks.outputs import check_distinct_outputs, patterns_overlap
from epoch_eval.sinks.rendering import ChartRenderer

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def evaluation():
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 10, 600)
    scores = rng.dirichlet(np.ones(10), 600)
    scores[np.arange(600), y_true] += 1.0
    return evaluate(y_true, scores / scores.sum(axis=1, keepdims=True))


def fake_png(name, evaluation, epoch):
    return f"{name}@{epoch}".encode()


def wait_until_idle(renderer: ChartRenderer, seconds: float = 10.0) -> None:
    """Wait (bounded) until the drawing thread has ended: it ends `IDLE_SECONDS` after its
    last job, or at once when the renderer is closed."""
    deadline = time.monotonic() + rendering.IDLE_SECONDS + seconds
    while renderer.is_drawing() and time.monotonic() < deadline:
        time.sleep(0.01)


def test_each_chart_is_drawn_once_per_epoch_whichever_sinks_ask(evaluation):
    drawn: list[tuple[str, int]] = []

    def draw(name, evaluation, epoch):
        drawn.append((name, epoch))
        return fake_png(name, evaluation, epoch)

    renderer = ChartRenderer(draw)
    received: list[dict[str, bytes]] = []
    requests = renderer.charts_of(3, evaluation)
    requests.request(["roc_curve", "pr_curve"], received.append)
    requests.request(["roc_curve"], received.append)
    renderer.close()
    assert sorted(drawn) == [("pr_curve", 3), ("roc_curve", 3)]
    assert received == [{"roc_curve": b"roc_curve@3", "pr_curve": b"pr_curve@3"},
                        {"roc_curve": b"roc_curve@3"}]


def test_a_stalled_drawer_costs_training_a_bounded_wait_and_names_the_epochs(evaluation):
    release = threading.Event()
    delivered: list[int] = []

    def stuck(name, evaluation, epoch):  # as a drawer stuck on a slow disk, or stopped
        release.wait(30)
        return fake_png(name, evaluation, epoch)

    renderer = ChartRenderer(stuck, max_pending=2, stall_seconds=2.0)
    start = time.monotonic()
    for epoch in (1, 2):  # the backlog takes these at once
        renderer.charts_of(epoch, evaluation).request(["roc_curve"],
                                                      lambda _, e=epoch: delivered.append(e))
    assert time.monotonic() - start < 1.5  # no wait for the drawer (2 s)
    with pytest.warns(RuntimeWarning, match="finished nothing for 2 s, so the charts of "
                                            "epoch 3 are dropped"):
        renderer.charts_of(3, evaluation).request(["roc_curve"], print)
    with pytest.warns(RuntimeWarning, match="charts of epoch 4 are dropped"):
        renderer.charts_of(4, evaluation).request(["roc_curve"], print)  # no second wait
    with pytest.warns(RuntimeWarning, match="charts of epochs 1, 2 are not written"):
        renderer.close()
    assert time.monotonic() - start < 15  # bounded: two stalls of 2 s, on a busy machine more
    release.set()
    wait_until_idle(renderer)
    assert not renderer.is_drawing()


def test_the_backlog_is_max_pending_epochs_whatever_their_size(evaluation):
    release = threading.Event()
    renderer = ChartRenderer(lambda *args: release.wait(30) and b"png", max_pending=4,
                             stall_seconds=2.0)
    start = time.monotonic()
    for epoch in range(1, 5):  # 600 samples, 10 classes: far beyond a pipe's 64 KiB
        renderer.charts_of(epoch, evaluation).request(["roc_curve", "pr_curve"], print)
    assert time.monotonic() - start < 1.5  # four epochs queued without waiting (2 s)
    with pytest.warns(RuntimeWarning, match="epoch 5 are dropped"):
        renderer.charts_of(5, evaluation).request(["roc_curve"], print)
    assert time.monotonic() - start >= 2.0  # the fifth waited for the drawer, then gave up
    release.set()
    with pytest.warns(RuntimeWarning, match="charts of epochs 1, 2, 3, 4 are not written"):
        renderer.close()
    release.set()


def test_a_failing_chart_and_a_failing_sink_are_warnings(evaluation):
    def draw(name, evaluation, epoch):
        if name == "pr_curve":
            raise RuntimeError("no fonts today")
        return fake_png(name, evaluation, epoch)

    def broken_sink(pngs):
        raise OSError("disk on fire")

    received: list[dict[str, bytes]] = []
    renderer = ChartRenderer(draw)
    requests = renderer.charts_of(2, evaluation)
    # the drawing thread's warnings surface at the next request or at close(), whichever
    # comes after the thread got there: both are inside the block
    with pytest.warns(RuntimeWarning) as caught:
        requests.request(["roc_curve", "pr_curve"], broken_sink)
        requests.request(["roc_curve", "pr_curve"], received.append)
        renderer.close()
    messages = [str(w.message) for w in caught]
    assert any("could not draw pr_curve for epoch 2 (RuntimeError: no fonts today)" in m
               for m in messages)
    assert any("delivering the charts of epoch 2 failed (OSError: disk on fire)" in m
               for m in messages)
    assert received == [{"roc_curve": b"roc_curve@2"}]


def chart_process_alive(pid: int | None) -> bool:
    """Whether the chart process `pid` still exists (a zombie counts: it was not reaped)."""
    import psutil

    return pid is not None and psutil.pid_exists(pid)


def drawing_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "epoch_eval-charts"]


def test_the_drawing_thread_ends_with_its_chart_process_when_the_backlog_is_empty(
        evaluation, monkeypatch):
    monkeypatch.setattr(rendering, "IDLE_SECONDS", 0.2)
    renderer = ChartRenderer()  # a chart process, whose `FastCharts` keeps the figures
    drawn = threading.Event()
    renderer.charts_of(1, evaluation).request(["roc_curve"], lambda pngs: drawn.set())
    assert drawn.wait(60)
    pid = renderer.drawer_pid()
    assert chart_process_alive(pid)  # kept for the next epoch while the thread waits for it
    wait_until_idle(renderer)  # nobody called close(), as after an interrupted fit
    assert not renderer.is_drawing()
    assert renderer.drawer_pid() is None
    deadline = time.monotonic() + 30  # the thread reaps it as it ends: bounded
    while drawing_threads() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not drawing_threads()
    assert not chart_process_alive(pid)


def test_close_joins_the_drawing_thread_and_ends_its_chart_process(evaluation, monkeypatch):
    monkeypatch.setattr(rendering, "IDLE_SECONDS", 60.0)  # it would idle a minute otherwise
    renderer = ChartRenderer()
    received: list[dict[str, bytes]] = []
    pids: list[int | None] = []
    requests = renderer.charts_of(1, evaluation)
    requests.request(["roc_curve", "pr_curve"],
                     lambda pngs: (received.append(pngs), pids.append(renderer.drawer_pid())))
    start = time.monotonic()
    renderer.close()
    assert time.monotonic() - start < 30
    assert [sorted(pngs) for pngs in received] == [["pr_curve", "roc_curve"]]
    assert all(png.startswith(b"\x89PNG") for png in received[0].values())
    assert not renderer.is_drawing()
    assert not drawing_threads()
    assert pids and pids[0] is not None and not chart_process_alive(pids[0])


def test_nothing_is_drawn_for_an_undefined_epoch():
    from epoch_eval.metrics.result import Evaluation

    undefined = Evaluation.undefined(task="binary", n_samples=3, class_names=("0", "1"),
                                     threshold=0.5, average="binary", reason="NaN")
    renderer = ChartRenderer(fake_png)
    renderer.charts_of(1, undefined).request(["roc_curve"], pytest.fail)
    renderer.close()
    assert not renderer.is_drawing()


def test_a_full_disk_leaves_no_temporary_file_and_names_the_file(evaluation, tmp_path,
                                                                monkeypatch):
    def no_space(descriptor):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(outputs.os, "fsync", no_space)
    sink = PngFolder(tmp_path, charts=["roc_curve"])
    sink.open()
    renderer = ChartRenderer(fake_png)
    sink.write(EpochResult(1, evaluation, {}, renderer.charts_of(1, evaluation)))
    renderer.close()
    with pytest.warns(RuntimeWarning, match=r"could not write .*roc_curve_epoch_001\.png"
                                            r".*No space left on device"):
        sink.close()
    assert list(tmp_path.iterdir()) == []


def test_png_folder_writes_what_the_renderer_draws(evaluation, tmp_path):
    sink = PngFolder(tmp_path)
    sink.open()
    renderer = ChartRenderer()
    for epoch in (1, 2):
        sink.write(EpochResult(epoch, evaluation, {}, renderer.charts_of(epoch, evaluation)))
    renderer.close()
    sink.close()
    names = sorted(path.name for path in tmp_path.iterdir())
    assert names == [f"{chart}_epoch_{epoch:03d}.png"
                     for chart in ("confusion_matrix", "pr_curve", "roc_curve")
                     for epoch in (1, 2)]
    for path in tmp_path.iterdir():
        assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_overlapping_output_patterns():
    assert patterns_overlap("/c/roc_curve_epoch_*.png", "/c/roc_curve_epoch_*.png")
    assert patterns_overlap("/c/*", "/c/roc_curve_epoch_*.png")
    assert patterns_overlap("/c/run_*.png", "/c/*_7.png")
    assert not patterns_overlap("/c/roc_curve_epoch_*.png", "/c/pr_curve_epoch_*.png")
    assert not patterns_overlap("/c/a/*.png", "/c/b/*.png")


def test_two_png_folders_on_one_folder_are_refused(tmp_path):
    with pytest.raises(ValueError, match=r"Two sinks would write the same files: PngFolder "
                                         r"\('.*roc_curve_epoch_\*\.png'\) and PngFolder"):
        check_distinct_outputs([PngFolder(tmp_path), PngFolder(tmp_path / ".." / tmp_path.name,
                                                               charts=["roc_curve"])])
    check_distinct_outputs([PngFolder(tmp_path, charts=["roc_curve"]),
                            PngFolder(tmp_path, charts=["pr_curve"]),
                            PngFolder(tmp_path / "other")])


def test_no_resource_warning_and_nothing_on_stderr(tmp_path):
    script = (
        "import sys\n"
        "import numpy as np\n"
        "from epoch_eval import EpochResult, PngFolder, evaluate\n"
        "from epoch_eval.sinks.rendering import ChartRenderer\n"
        "rng = np.random.default_rng(0)\n"
        "y = rng.integers(0, 3, 90)\n"
        "e = evaluate(y, rng.dirichlet(np.ones(3), 90), class_names=['a', '\\u4e2d', 'c'])\n"
        "sink = PngFolder(sys.argv[1])\n"
        "sink.open()\n"
        "renderer = ChartRenderer()\n"
        "for epoch in (1, 2):\n"
        "    sink.write(EpochResult(epoch, e, {}, renderer.charts_of(epoch, e)))\n"
        "renderer.close()\n"
        "sink.close()\n"
        "import gc; gc.collect()\n"
    )
    completed = subprocess.run(
        [sys.executable, "-X", "dev", "-W", "error::ResourceWarning", "-c", script,
         str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=120,
        env=dict(os.environ, MPLBACKEND="Agg"))
    assert completed.returncode == 0, completed.stderr
    ours = "RuntimeWarning: epoch_eval: the chart font (DejaVu Sans) cannot show some"
    lines = completed.stderr.splitlines()
    assert len(lines) == 1 and ours in lines[0], completed.stderr  # said once, by us
    assert len(list(tmp_path.glob("*.png"))) == 6
    assert list(tmp_path.glob(".*")) == []


@pytest.fixture
def tiny_disk(tmp_path):
    """A 64 KiB tmpfs, where this machine lets the test mount one (root on Linux)."""
    folder = tmp_path / "tiny"
    folder.mkdir()
    if sys.platform != "linux" or os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root on Linux")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(folder)],
                             capture_output=True, check=False)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=False)


def test_a_real_full_disk_leaves_no_temporary_file(evaluation, tiny_disk):
    sink = PngFolder(tiny_disk)
    sink.open()
    renderer = ChartRenderer()
    sink.write(EpochResult(1, evaluation, {}, renderer.charts_of(1, evaluation)))
    renderer.close()
    with pytest.warns(RuntimeWarning, match="No space left on device"):
        sink.close()
    assert [p.name for p in tiny_disk.iterdir() if p.name.startswith(".")] == []
    for path in tiny_disk.iterdir():  # whatever fitted is a whole PNG
        assert path.read_bytes().startswith(b"\x89PNG") and path.stat().st_size > 1000


def test_no_thread_to_be_had_drops_the_epoch_with_a_warning(evaluation, monkeypatch):
    def refuse(thread):
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(threading.Thread, "start", refuse)
    renderer = ChartRenderer(fake_png, stall_seconds=30)
    with pytest.warns(RuntimeWarning, match=r"charts of epoch 1 are dropped \(can't start new "
                                            r"thread\)"):
        renderer.charts_of(1, evaluation).request(["roc_curve"], pytest.fail)
    start = time.monotonic()
    renderer.close()  # nothing pending: no wait
    assert time.monotonic() - start < 1


def test_a_waiting_drawing_thread_is_woken_by_the_next_epoch(evaluation, monkeypatch):
    import epoch_eval.sinks.rendering as rendering

    monkeypatch.setattr(rendering, "IDLE_SECONDS", 60.0)  # a missed wake-up would cost 60 s
    renderer = ChartRenderer(fake_png)
    first, second = threading.Event(), threading.Event()
    renderer.charts_of(1, evaluation).request(["roc_curve"], lambda pngs: first.set())
    assert first.wait(10)
    changed = renderer._backlog.changed
    deadline = time.monotonic() + 10
    while not changed._waiters and time.monotonic() < deadline:  # type: ignore[attr-defined]
        time.sleep(0.01)
    assert changed._waiters, "the thread never waited for its next job"  # type: ignore[attr-defined]
    assert renderer.is_drawing()
    renderer.charts_of(2, evaluation).request(["roc_curve"], lambda pngs: second.set())
    assert second.wait(10), "the drawing thread slept through the new job"
    renderer.close()
