"""`MlflowLogs`: each evaluated epoch's values, charts and evaluation in an MLflow run."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from epoch_eval.charts.render import CHART_NAMES, check_chart_names
from epoch_eval.metrics.result import Evaluation
from epoch_eval.sinks.base import EpochResult, Sink
from epoch_eval.sinks.json_lines import epoch_record
from epoch_eval.sinks.mlflow_process import MlflowProcess, MlflowStartError

INSTALL_HINT = "pip install 'epoch-eval[mlflow]'"
CLASSES_PARAM_LIMIT = 500
"""Characters of the `epoch_eval.classes` param (MLflow caps a param value at 6,000)."""


class MlflowLogs(Sink):
    """Log each evaluated epoch into an MLflow run: the six values as metrics
    (`{prefix}f1`, ..., `{prefix}pr_auc`) with `step` = the 0-based epoch (as MLflow's Keras
    autolog logs `val_loss`), the charts as step-indexed images (`key` = the chart's name),
    the evaluation as `epoch_eval/epoch_NNN.json` (the record `JsonLines` writes), and the
    settings once as params `epoch_eval.task`, `epoch_eval.classes`, `epoch_eval.threshold`,
    `epoch_eval.average`. Into the run of `mlflow.keras.autolog()`, the values already in
    Keras' logs (from `HistoryLogs`) are left to autolog, which logs every key of the logs.

    The run: `run_id` if given; else the active run (`with mlflow.start_run():`, or the run
    `mlflow.keras.autolog()` opened) unless `tracking_uri` names another store; else the
    sink starts a run (in the experiment set with `mlflow.set_experiment`,
    `MLFLOW_EXPERIMENT_NAME` or `MLFLOW_EXPERIMENT_ID`, else Default) when `fit` starts and
    ends it FINISHED when `fit` ends. When `fit` raises, Keras calls no
    callback: that run is marked FAILED when the next `fit` with this sink starts, or at the
    latest when the process exits.

    The store: `tracking_uri`, else the one set with `mlflow.set_tracking_uri` or
    `MLFLOW_TRACKING_URI`, else the active run's. With none of them `open` raises, rather
    than let MLflow fall back on a store in the working directory. A SQLite store's folder
    is created, and artifacts that MLflow would put in `./mlruns` go beside the database.

    Every MLflow call is made in a child process (see `mlflow_process`): training never waits
    for MLflow. A store that answers nothing for `timeout` seconds (a tracking server that
    died) is given up for the rest of the `fit`, with one warning naming it.

    Args:
        run_id: an existing run to log into (never ended by the sink).
        tracking_uri: the MLflow store: `http://host:5000`, `sqlite:///runs/mlflow.db`, ...
        charts: any of `"confusion_matrix"`, `"roc_curve"`, `"pr_curve"`; `()` for none.
        prefix: put before each metric's name.
        timeout: seconds the store may answer nothing before the sink gives it up.

    Raises:
        ImportError: if MLflow is not installed (the `mlflow` extra).
        ValueError: for an unknown chart name, a bad prefix or timeout.

    Example:
        >>> sink = MlflowLogs(tracking_uri="sqlite:///runs/mlflow.db")
        >>> model.fit(x, y, epochs=10, callbacks=[EpochEvaluator((x_val, y_val),
        ...                                                      sinks=[HistoryLogs(), sink])])
        >>> sink.last_run_id  # the run it started, now FINISHED
    """

    waits_for_epoch_line: ClassVar[bool] = False  # prints nothing: written at the epoch's end

    def __init__(
        self,
        run_id: str | None = None,
        tracking_uri: str | os.PathLike[str] | None = None,
        charts: Sequence[str] = CHART_NAMES,
        prefix: str = "val_",
        *,
        timeout: float = 30.0,
    ) -> None:
        if importlib.util.find_spec("mlflow") is None:
            raise ImportError(f"MlflowLogs needs MLflow: {INSTALL_HINT}")
        if run_id is not None and (not isinstance(run_id, str) or not run_id):
            raise ValueError(f"`run_id` must be a run's id (a non-empty string) or None. "
                             f"Received: run_id={run_id!r}")
        if not isinstance(prefix, str):
            raise ValueError(f"`prefix` must be a string. Received: prefix={prefix!r}")
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
            raise ValueError(f"`timeout` must be a positive number of seconds. "
                             f"Received: timeout={timeout!r}")
        self.run_id = run_id
        self.tracking_uri = None if tracking_uri is None else os.fspath(tracking_uri)
        self.charts = tuple(dict.fromkeys(check_chart_names(
            (charts,) if isinstance(charts, str) else charts)))
        self.draws_charts = bool(self.charts)
        self.prefix = prefix
        self.timeout = float(timeout)
        self._process: MlflowProcess | None = None
        self._params_logged = False
        self._autolog_logs_values = False
        self.last_run_id: str | None = None
        """The id of the run this sink logs into (from `open` on), or logged into last."""

    def open(self) -> None:
        """End the run a `fit` that raised left open (FAILED), then open this fit's run.

        Raises:
            ValueError: if no tracking URI is set, or the store refuses the run.
            OSError: if the store does not answer (a tracking server that is down), or a
                SQLite store's folder cannot be created.
        """
        self._end("FAILED")
        uri, run_id, experiment_id = self._target()
        # autolog's callback, appended after ours, logs every key of Keras' logs into its run
        self._autolog_logs_values = run_id is not None and run_id == _active_run_id() and (
            _keras_autolog_on())
        cwd = None
        if uri.startswith("sqlite:///") and not uri.endswith(":memory:"):
            folder = Path(uri[len("sqlite:///"):]).parent
            folder.mkdir(parents=True, exist_ok=True)
            cwd = str(folder)  # MLflow's default artifact root, ./mlruns, goes beside the db
        try:
            self._process = MlflowProcess(uri, run_id, experiment_id, timeout=self.timeout,
                                          cwd=cwd)
        except MlflowStartError as error:
            message = f"MlflowLogs could not open a run in {uri}: {error}"
            if "No module named" in str(error):
                message += f" ({INSTALL_HINT})"
            if error.kind == "connection":
                raise ConnectionError(message) from None
            raise ValueError(message) from None
        self._params_logged = False
        self.last_run_id = self._process.run_id

    def write(self, result: EpochResult) -> None:
        process = self._process
        if process is None:
            self.open()
            process = self._process
            assert process is not None
        if process.given_up:  # said once already
            return
        step = result.epoch - 1  # as MLflow's Keras autolog counts epochs
        timestamp = _milliseconds()
        evaluation = result.evaluation
        metrics = {f"{self.prefix}{name}": value for name, value in evaluation.scalars().items()}
        if self._autolog_logs_values:  # the values HistoryLogs put in the logs: logged once
            metrics = {name: value for name, value in metrics.items()
                       if result.logs.get(name) != value}
        process.send({"step": step, "timestamp": timestamp, "metrics": metrics,
                      "params": {} if self._params_logged else _params(evaluation)})
        self._params_logged = True
        record = json.dumps(epoch_record(result.epoch, evaluation), allow_nan=False,
                            separators=(",", ":"))
        path = process.write_file(f"epoch_{result.epoch:03d}.json", record.encode())
        if path is not None:
            process.send({"text": path,
                          "artifact_file": f"epoch_eval/epoch_{result.epoch:03d}.json"})
        if self.charts:
            result.charts.request(self.charts,
                                  lambda pngs: _send_charts(process, pngs, step, timestamp))
        _emit(process.poll())

    def close(self) -> None:
        self._end("FINISHED")

    def _end(self, status: str) -> None:
        process, self._process = self._process, None
        if process is not None:
            _emit(process.end(status))

    def _target(self) -> tuple[str, str | None, str | None]:
        """The store (absolute), the run to log into (None: a new one) and, for a new run,
        the experiment set with `mlflow.set_experiment` (None: MLflow's environment)."""
        uri, run_id, experiment_id = self.tracking_uri, self.run_id, None
        mlflow: Any = sys.modules.get("mlflow")  # only if the user imported it
        if mlflow is not None:
            store = str(mlflow.get_tracking_uri())
            active = mlflow.active_run()
            if (run_id is None and active is not None
                    and (uri is None or _absolute(uri) == _absolute(store))):
                run_id, uri = active.info.run_id, store  # the user's run, in its store
            elif uri is None and _tracking_uri_set(mlflow):
                uri = store
            fluent = sys.modules.get("mlflow.tracking.fluent")  # mlflow.set_experiment's
            experiment_id = getattr(fluent, "_active_experiment_id", None)
        uri = uri if uri is not None else os.environ.get("MLFLOW_TRACKING_URI") or None
        if uri is None:
            raise ValueError(
                "MlflowLogs needs a tracking URI: pass tracking_uri= (a server such as "
                "'http://localhost:5000', or a store such as 'sqlite:///runs/mlflow.db'), or "
                "call mlflow.set_tracking_uri(...), or set MLFLOW_TRACKING_URI. MLflow's "
                "default would write into the working directory.")
        return _absolute(uri), run_id, experiment_id


def _active_run_id() -> str | None:
    mlflow: Any = sys.modules.get("mlflow")
    active = None if mlflow is None else mlflow.active_run()
    return None if active is None else str(active.info.run_id)


def _keras_autolog_on() -> bool:
    """Whether `mlflow.keras.autolog()` (or `mlflow.tensorflow.autolog()`) is on here."""
    utils = sys.modules.get("mlflow.utils.autologging_utils")
    disabled = getattr(utils, "autologging_is_disabled", None)
    try:
        return disabled is not None and not all(disabled(name) for name in ("keras",
                                                                             "tensorflow"))
    except Exception:  # a private helper of MLflow's: if it changed, log everything
        return False


def _tracking_uri_set(mlflow: Any) -> bool:
    """Whether the user set a tracking URI in MLflow (not its default)."""
    check = getattr(mlflow, "is_tracking_uri_set", None)
    return bool(check()) if check is not None else bool(os.environ.get("MLFLOW_TRACKING_URI"))


def _absolute(uri: str) -> str:
    """`uri` with a relative SQLite or file-store path made absolute (the child process
    works in another folder)."""
    if uri.startswith("sqlite:///"):
        path = uri[len("sqlite:///"):]
        if path != ":memory:" and not os.path.isabs(path):
            return "sqlite:///" + os.path.abspath(path)
        return uri
    if "://" not in uri and not uri.startswith("file:") and uri != "databricks":
        return os.path.abspath(uri)  # a plain path: a file store
    return uri


def _params(evaluation: Evaluation) -> dict[str, str]:
    names = ", ".join(evaluation.class_names)
    if len(names) > CLASSES_PARAM_LIMIT:
        names = (f"{names[:CLASSES_PARAM_LIMIT].rsplit(', ', 1)[0]}, ... "
                 f"({len(evaluation.class_names)} classes)")
    return {"epoch_eval.task": evaluation.task, "epoch_eval.classes": names,
            "epoch_eval.threshold": f"{evaluation.threshold:g}",
            "epoch_eval.average": evaluation.average}


def _send_charts(process: MlflowProcess, pngs: dict[str, bytes], step: int,
                 timestamp: int) -> None:
    """On the drawing thread: hand each chart's PNG to the child as a file."""
    for name, png in pngs.items():
        path = process.write_file(f"{name}_{step}.png", png)
        if path is not None:
            process.send({"image": path, "key": name, "step": step, "timestamp": timestamp})


def _milliseconds() -> int:
    return int(time.time() * 1000)


def _emit(messages: list[str]) -> None:
    for message in messages:
        warnings.warn(f"epoch_eval: {message}; training goes on.", RuntimeWarning, stacklevel=3)
