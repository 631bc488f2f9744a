"""`MlflowLogs` against a real SQLite store and a real `mlflow server`, read back with
`MlflowClient`: metric histories equal to History's, one image per chart and epoch, the
params, the run's end (FINISHED, or FAILED after a `fit` that raised), and a server killed
in the middle of a `fit`."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import warnings
from pathlib import Path

import pytest

if os.environ.get("KERAS_BACKEND", "tensorflow") != "tensorflow":
    pytest.skip("the MLflow tests run in the TensorFlow leg of CI only (the sink has no "
                "backend code; each test starts MLflow processes)", allow_module_level=True)

import keras
import mlflow
from conftest import mlp
from mlflow import MlflowClient
from sink_epochs import epochs

from epoch_eval import EpochEvaluator, HistoryLogs, MlflowLogs
from epoch_eval.metrics.result import SCALAR_NAMES
from epoch_eval.sinks.evaluation_json import from_json_value

CHARTS = ("confusion_matrix", "roc_curve", "pr_curve")
SERVER_START_SECONDS = 90.0


@pytest.fixture(autouse=True)
def no_mlflow_settings(monkeypatch):
    """Each test starts from MLflow's defaults: no tracking URI, no experiment, no run."""
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_NAME", "MLFLOW_EXPERIMENT_ID"):
        monkeypatch.delenv(name, raising=False)
    yield
    while mlflow.active_run() is not None:
        mlflow.end_run()
    mlflow.set_tracking_uri(None)  # type: ignore[arg-type]
    mlflow.tracking.fluent._active_experiment_id = None  # what set_experiment set


def fit(digits, sink, epochs=3, extra=()):
    x_train, y_train, x_val, y_val = digits
    model = mlp(64, 10)
    return model.fit(x_train, y_train, epochs=epochs, batch_size=64, verbose=0,
                     callbacks=[EpochEvaluator((x_val, y_val), sinks=[HistoryLogs(), sink]),
                                *extra])


def image_steps(client, run_id) -> dict[str, list[int]]:
    """The steps of each chart's step-indexed images (MLflow 3 names them
    `images/{key}+step+{step}+timestamp+...png`, earlier versions with `%` for `+`), each
    beside its compressed thumbnail."""
    steps: dict[str, list[int]] = {}
    for item in client.list_artifacts(run_id, "images"):
        found = re.fullmatch(r"(.+?)[+%]step[+%](\d+)[+%]timestamp[+%].*(?<!compressed)\.png",
                             item.path.split("/")[-1])
        if found:
            steps.setdefault(found[1], []).append(int(found[2]))
    return {key: sorted(values) for key, values in steps.items()}


def check_run(client, run_id, history, n_epochs):
    """Every value as History has it, steps 0..n-1, the charts, the params, the JSON."""
    for name in SCALAR_NAMES:
        logged = client.get_metric_history(run_id, f"val_{name}")
        assert [m.step for m in sorted(logged, key=lambda m: m.step)] == list(range(n_epochs))
        assert [m.value for m in sorted(logged, key=lambda m: m.step)] == pytest.approx(
            history.history[f"val_{name}"], rel=1e-12)
    assert image_steps(client, run_id) == {chart: list(range(n_epochs)) for chart in CHARTS}
    params = client.get_run(run_id).data.params
    assert params["epoch_eval.task"] == "multiclass"
    assert params["epoch_eval.classes"] == ", ".join(str(i) for i in range(10))
    assert params["epoch_eval.average"] == "macro" and params["epoch_eval.threshold"] == "0.5"
    with tempfile.TemporaryDirectory() as folder:
        path = client.download_artifacts(run_id, f"epoch_eval/epoch_{n_epochs:03d}.json", folder)
        record = json.loads(Path(path).read_text(encoding="utf-8"))
    assert record["epoch"] == n_epochs
    assert from_json_value(record["evaluation"]).f1 == history.history["val_f1"][-1]


def status(uri, run_id) -> str:
    return MlflowClient(uri).get_run(run_id).info.status


def test_sqlite_store_holds_every_epoch_and_nothing_lands_in_the_working_directory(
        digits, tmp_path, monkeypatch):
    working = tmp_path / "working"
    working.mkdir()
    monkeypatch.chdir(working)
    uri = f"sqlite:///{tmp_path}/store/mlflow.db"
    sink = MlflowLogs(tracking_uri=uri)
    history = fit(digits, sink)
    client = MlflowClient(uri)
    check_run(client, sink.last_run_id, history, 3)
    assert status(uri, sink.last_run_id) == "FINISHED"
    assert list(working.iterdir()) == []  # the artifacts went beside the database
    assert (tmp_path / "store" / "mlruns").is_dir()


def test_a_fit_that_raises_leaves_its_run_failed_by_the_next_fit(digits, tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    sink = MlflowLogs(tracking_uri=uri, charts=())

    class Fail(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise RuntimeError("another callback failed")

    with pytest.raises(RuntimeError, match="another callback failed"):
        fit(digits, sink, extra=[Fail()])
    failed = sink.last_run_id
    assert status(uri, failed) == "RUNNING"  # Keras called no callback: not yet known
    fit(digits, sink, epochs=1)
    assert status(uri, failed) == "FAILED"
    assert status(uri, sink.last_run_id) == "FINISHED" and sink.last_run_id != failed
    history = MlflowClient(uri).get_metric_history(failed, "val_f1")
    assert [m.step for m in history] == [0, 1]  # what was logged before the failure stays


@pytest.mark.parametrize("exit_call", ["sys.exit(0)", "os._exit(0)"])
def test_the_run_of_a_process_that_exits_without_closing_it_is_failed(tmp_path, exit_call):
    """At exit (`atexit`), or, where the process dies without it, the child process reading
    the end of its input, marks the run FAILED."""
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    folders = set(Path(tempfile.gettempdir()).glob("epoch_eval_mlflow_*"))
    script = (
        "import os, sys\n"
        "from sink_epochs import epochs\n"
        "from epoch_eval import MlflowLogs\n"
        f"sink = MlflowLogs(tracking_uri={uri!r}, charts=())\n"
        "sink.open()\n"
        "for result in epochs('binary', 2): sink.write(result)\n"
        "print(sink.last_run_id, flush=True)\n"
        f"{exit_call}\n"
    )
    tests = Path(__file__).parent
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONPATH": os.pathsep.join(
                              [str(tests), str(tests.parent)])})
    assert done.returncode == 0, done.stderr
    run_id = done.stdout.split()[-1]
    def left() -> set[Path]:  # its temporary folder, until removed
        return set(Path(tempfile.gettempdir()).glob("epoch_eval_mlflow_*")) - folders

    deadline = time.monotonic() + 60  # os._exit: the orphaned child ends the run by itself
    while (status(uri, run_id) != "FAILED" or left()) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert status(uri, run_id) == "FAILED"
    assert not left()


def test_logs_into_the_active_run_and_leaves_it_open(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the run MLflow starts here keeps its artifacts in ./mlruns
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    mlflow.set_tracking_uri(uri)
    with mlflow.start_run() as run:
        sink = MlflowLogs(charts=("roc_curve",), prefix="val_ee_")
        sink.open()
        for result in epochs("binary", 2):
            sink.write(result)
        sink.close()
        assert sink.last_run_id == run.info.run_id
        assert status(uri, run.info.run_id) == "RUNNING"  # the user's run: theirs to end
    client = MlflowClient(uri)
    assert [m.step for m in client.get_metric_history(run.info.run_id, "val_ee_f1")] == [0, 1]
    assert image_steps(client, run.info.run_id) == {"roc_curve": [0, 1]}


def test_a_refused_param_costs_no_metric(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    client = MlflowClient(uri)
    run_id = client.create_run("0").info.run_id
    client.log_param(run_id, "epoch_eval.threshold", "0.3")  # an earlier fit's setting
    sink = MlflowLogs(tracking_uri=uri, run_id=run_id, charts=())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sink.open()
        for result in epochs("binary", 2):  # threshold 0.5: MLflow refuses the change
            sink.write(result)
        sink.close()
    assert [m.step for m in client.get_metric_history(run_id, "val_f1")] == [0, 1]
    assert client.get_run(run_id).data.params["epoch_eval.task"] == "binary"
    refused = [str(w.message) for w in caught if "MLflow refused an item" in str(w.message)]
    assert len(refused) == 1, [str(w.message) for w in caught]


def test_beside_keras_autolog_each_value_is_logged_once_in_its_run(digits, tmp_path,
                                                                    monkeypatch):
    monkeypatch.chdir(tmp_path)  # autolog's run keeps its artifacts in ./mlruns
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    mlflow.set_tracking_uri(uri)
    mlflow.keras.autolog(log_models=False)
    try:
        x_train, y_train, x_val, y_val = digits
        sink = MlflowLogs(charts=())
        history = mlp(64, 10).fit(
            x_train, y_train, epochs=2, batch_size=64, verbose=0, validation_data=(x_val, y_val),
            callbacks=[EpochEvaluator((x_val, y_val), sinks=[HistoryLogs(), sink])])
    finally:
        mlflow.keras.autolog(disable=True)
    client = MlflowClient(uri)
    assert client.get_run(sink.last_run_id).info.status == "FINISHED"  # ended by autolog
    for name in ("val_loss", "val_f1", "val_pr_auc"):
        logged = client.get_metric_history(sink.last_run_id, name)
        assert [m.step for m in logged] == [0, 1], name
        assert [m.value for m in logged] == pytest.approx(history.history[name]), name


def test_a_run_it_starts_goes_to_the_experiment_set_with_mlflow(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the experiment MLflow creates here keeps ./mlruns
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    mlflow.set_tracking_uri(uri)
    experiment = mlflow.set_experiment("digits")
    sink = MlflowLogs(charts=())
    sink.open()
    sink.write(epochs("binary", 1)[0])
    sink.close()
    run = MlflowClient(uri).get_run(sink.last_run_id)
    assert run.info.experiment_id == experiment.experiment_id != "0"
    assert run.info.status == "FINISHED"


def test_a_logging_process_that_dies_is_one_warning_and_nothing_left(tmp_path):
    psutil = pytest.importorskip("psutil")
    folders = set(Path(tempfile.gettempdir()).glob("epoch_eval_mlflow_*"))
    sink = MlflowLogs(tracking_uri=f"sqlite:///{tmp_path}/mlflow.db", charts=())
    sink.open()
    written = epochs("binary", 3)
    sink.write(written[0])
    (child,) = psutil.Process().children()
    child.kill()
    child.wait(timeout=30)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for result in written[1:]:
            sink.write(result)
        sink.close()
    messages = [str(w.message) for w in caught if "epoch_eval" in str(w.message)]
    assert len(messages) == 1 and "ended unexpectedly" in messages[0], messages
    assert psutil.Process().children() == []
    assert set(Path(tempfile.gettempdir()).glob("epoch_eval_mlflow_*")) <= folders


def test_no_tracking_uri_is_refused_before_training(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match="needs a tracking URI"):
        MlflowLogs().open()
    assert list(tmp_path.iterdir()) == []


def test_an_unknown_run_id_is_refused_at_open(tmp_path):
    with pytest.raises(ValueError, match="no run 'abc'"):
        MlflowLogs("abc", tracking_uri=f"sqlite:///{tmp_path}/mlflow.db").open()


def test_bad_arguments_and_a_missing_mlflow(monkeypatch):
    with pytest.raises(ValueError, match="Unknown chart name|chart"):
        MlflowLogs(tracking_uri="http://x", charts=("pie",))
    with pytest.raises(ValueError, match="timeout"):
        MlflowLogs(timeout=0)
    monkeypatch.setitem(sys.modules, "mlflow", None)  # as if not installed
    with pytest.raises(ImportError, match=r"epoch-eval\[mlflow\]"):
        MlflowLogs()


def test_the_training_process_never_imports_mlflow_itself(tmp_path):
    script = (
        "import sys\n"
        "from sink_epochs import epochs\n"
        "from epoch_eval import MlflowLogs\n"
        f"sink = MlflowLogs(tracking_uri={f'sqlite:///{tmp_path}/mlflow.db'!r}, charts=())\n"
        "sink.open()\n"
        "for result in epochs('multiclass', 2): sink.write(result)\n"
        "sink.close()\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('mlflow', 'sqlalchemy')))\n"
    )
    tests = Path(__file__).parent
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONPATH": os.pathsep.join(
                              [str(tests), str(tests.parent)])})
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[-2] == "[]"
    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    (run,) = client.search_runs(["0"])
    assert [m.step for m in client.get_metric_history(run.info.run_id, "val_f1")] == [0, 1]


# --- A real tracking server ---------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2):
            return True
    except OSError:
        return False


def stop(server: subprocess.Popen) -> None:
    """Kill the server and its workers (its own process group)."""
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGKILL)
    server.wait(timeout=30)


@pytest.fixture
def server(tmp_path):
    """A real `mlflow server` on a free port with a SQLite store in `tmp_path`; its URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with open(tmp_path / "server.log", "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port",
             str(port), "--backend-store-uri", f"sqlite:///{tmp_path}/server.db",
             "--workers", "1"],
            cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + SERVER_START_SECONDS
        while not answers(url):
            assert process.poll() is None, (tmp_path / "server.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "mlflow server did not answer in time"
            time.sleep(0.2)
        yield url, process
    finally:
        stop(process)


def test_a_server_that_is_down_is_refused_at_open_within_seconds():
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    started = time.monotonic()
    with pytest.raises(ConnectionError, match=f"{url} does not answer"):
        MlflowLogs(tracking_uri=url).open()
    assert time.monotonic() - started < 60  # MLflow's own retries: minutes


def test_tracking_server_holds_every_epoch(digits, server):
    url, _ = server
    sink = MlflowLogs(tracking_uri=url)
    history = fit(digits, sink)
    client = MlflowClient(url)
    check_run(client, sink.last_run_id, history, 3)
    assert status(url, sink.last_run_id) == "FINISHED"


def test_a_server_killed_mid_fit_costs_one_warning_and_no_wait(digits, server):
    psutil = pytest.importorskip("psutil")
    url, process = server
    sink = MlflowLogs(tracking_uri=url, charts=("roc_curve",), timeout=5)
    killed_at: list[float] = []
    writes: list[float] = []
    write = sink.write

    def timed_write(result):
        started = time.monotonic()
        write(result)
        writes.append(time.monotonic() - started)

    sink.write = timed_write  # type: ignore[method-assign]

    class KillServer(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:  # after epoch 2 was handed to the sink
                stop(process)
                killed_at.append(time.monotonic())

    threads = set(threading.enumerate())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = fit(digits, sink, epochs=6, extra=[KillServer()])
    took = time.monotonic() - killed_at[0]
    assert len(history.history["val_f1"]) == 6
    assert took < 60, f"fit took {took:.0f} s after the server died"  # MLflow alone: minutes
    # the training thread never waited for the server: no write of the sink took anything
    # near its timeout (5 s), let alone MLflow's minutes of retries
    assert len(writes) == 6 and max(writes) < 2.5, writes
    about_server = [str(w.message) for w in caught if url in str(w.message)]
    assert len(about_server) == 1, about_server
    assert "MlflowLogs stops logging" in about_server[0]
    assert set(threading.enumerate()) <= threads
    assert psutil.Process().children(recursive=True) == []
