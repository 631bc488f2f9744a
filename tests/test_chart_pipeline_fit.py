"""The chart pipeline inside `fit`: interrupted fits, failing sinks, shared folders."""

from __future__ import annotations

import subprocess
import threading
import time
import warnings

import keras
import pytest
from conftest import mlp

from epoch_eval import EpochEvaluator, EpochResult, HistoryLogs, PngFolder, Sink


def chart_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "epoch_eval-charts"]


def wait_for_no_chart_thread(seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while chart_threads() and time.monotonic() < deadline:
        time.sleep(0.02)


class Interrupt(keras.callbacks.Callback):
    """Raises KeyboardInterrupt at the end of epoch `at` (1-based), as Ctrl-C would."""

    def __init__(self, at: int) -> None:
        super().__init__()
        self.at = at

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == self.at:
            raise KeyboardInterrupt


def test_an_interrupted_fit_leaves_no_drawer_and_writes_what_it_handed_over(digits, tmp_path):
    psutil = pytest.importorskip("psutil")
    x_train, y_train, x_val, y_val = digits
    model = mlp(64, 10)
    evaluator = EpochEvaluator((x_val, y_val), sinks=[HistoryLogs(), PngFolder(tmp_path)])
    for _ in range(2):  # twice, as in a notebook
        with pytest.raises(KeyboardInterrupt):
            model.fit(x_train[:300], y_train[:300], epochs=5, verbose=0,
                      callbacks=[evaluator, Interrupt(at=3)])
    del evaluator
    wait_for_no_chart_thread()
    assert chart_threads() == []
    assert psutil.Process().children(recursive=True) == []
    # epochs 1 to 3 were evaluated before the interrupt (at epoch 3's end), and a sink that
    # prints nothing is handed each epoch inside `on_epoch_end`: none of them is lost
    assert sorted(p.name for p in tmp_path.glob("*.png")) == sorted(
        f"{chart}_epoch_{epoch:03d}.png" for chart in ("confusion_matrix", "roc_curve",
                                                      "pr_curve") for epoch in (1, 2, 3))
    assert list(tmp_path.glob(".*")) == []


class CloseFails(Sink):
    def write(self, result: EpochResult) -> None:
        pass

    def close(self) -> None:
        raise OSError("the network share went away")


def test_a_sink_whose_close_raises_stops_nothing(digits, tmp_path):
    x_train, y_train, x_val, y_val = digits
    model = mlp(64, 10)
    with pytest.warns(RuntimeWarning, match=r"CloseFails.close\(\) failed \(OSError: the "
                                            "network share went away\\)"):
        history = model.fit(x_train[:300], y_train[:300], epochs=2, verbose=0, callbacks=[
            EpochEvaluator((x_val, y_val), sinks=[HistoryLogs(), CloseFails(),
                                                  PngFolder(tmp_path, charts=["roc_curve"])])])
    assert len(history.history["val_f1"]) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["roc_curve_epoch_001.png",
                                                         "roc_curve_epoch_002.png"]


def test_two_png_folders_on_one_folder_are_refused_before_training(digits, tmp_path):
    x_train, y_train, x_val, y_val = digits
    model = mlp(64, 10)
    with pytest.raises(ValueError, match=r"Two sinks would write the same files: PngFolder "
                                         r"\('.*roc_curve_epoch_\*\.png'\) and PngFolder"):
        model.fit(x_train, y_train, epochs=1, verbose=0, callbacks=[EpochEvaluator(
            (x_val, y_val), sinks=[PngFolder(tmp_path), PngFolder(tmp_path, ["roc_curve"])])])
    assert int(model.optimizer.iterations) == 0
    assert list(tmp_path.iterdir()) == []


def test_a_folder_named_epoch_eval_in_the_working_directory_changes_nothing(
        digits, tmp_path, monkeypatch):
    """The chart process loads the same epoch_eval as training, never one from the cwd."""
    marker = tmp_path / "impostor_imported"
    impostor = tmp_path / "epoch_eval"
    impostor.mkdir()
    (impostor / "__init__.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    (tmp_path / "matplotlib.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    monkeypatch.chdir(tmp_path)
    started: list[list[str]] = []
    real_popen = subprocess.Popen

    def popen(args, *rest, **kwargs):
        started.append(list(args))
        return real_popen(args, *rest, **kwargs)

    monkeypatch.setattr(subprocess, "Popen", popen)
    x_train, y_train, x_val, y_val = digits
    model = mlp(64, 10)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no fallback, no failed chart
        model.fit(x_train[:300], y_train[:300], epochs=1, verbose=0, callbacks=[
            EpochEvaluator((x_val, y_val), sinks=[PngFolder(tmp_path / "charts")])])
    assert len(list((tmp_path / "charts").glob("*.png"))) == 3
    assert [args[1] for args in started] == ["-I"]  # one chart process, isolated
    assert not marker.exists()


class SlowDisk(Sink):
    """Asks for charts and never gets its bytes onto the disk (a hung network share)."""

    def __init__(self) -> None:
        self.release = threading.Event()

    def write(self, result: EpochResult) -> None:
        result.charts.request(["roc_curve"], lambda pngs: self.release.wait(60))


def test_a_stalled_drawer_delays_fit_a_bounded_time_and_names_the_epochs(digits, monkeypatch):
    import epoch_eval.sinks.rendering

    monkeypatch.setattr(epoch_eval.sinks.rendering, "STALL_SECONDS", 1.0)
    x_train, y_train, x_val, y_val = digits
    model = mlp(64, 10)
    sink = SlowDisk()
    sink.chart_backlog = 2
    start = time.monotonic()
    with pytest.warns(RuntimeWarning) as caught:
        history = model.fit(x_train[:200], y_train[:200], epochs=6, verbose=0,
                            callbacks=[EpochEvaluator((x_val, y_val), sinks=[sink])])
    elapsed = time.monotonic() - start
    sink.release.set()
    messages = " ".join(str(w.message) for w in caught)
    assert len(history.history["loss"]) == 6
    assert "so the charts of epoch 4 are dropped" in messages
    assert "charts of epochs 1, 2 are not written" in messages
    assert elapsed < 30  # one stall timeout while training, one at the end, not forever
    wait_for_no_chart_thread()
    assert chart_threads() == []
