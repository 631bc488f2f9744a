"""The child process of `MlflowLogs`: every MLflow call of one `fit`, outside the training
process, so that a tracking store that stops answering can be stopped with it.

Run as a script by `mlflow_process`; it imports the standard library, MLflow and Pillow, and
nothing of epoch_eval. Its first argument is the run's settings as JSON
(`{"tracking_uri", "run_id", "experiment_id", "folder"}`, the last the training process'
temporary folder for this run); then it reads one JSON message a line on
standard input and answers one JSON line per message on standard output:

- first answer: `{"ready": run_id}`, or `{"fatal": text, "kind": "connection" | "value"}`
  and the process ends;
- `{"seq", "step", "timestamp", "metrics": {name: value}, "params": {name: text}}`;
- `{"seq", "step", "timestamp", "image": path, "key": name}`: a PNG file, step-indexed;
- `{"seq", "text": path, "artifact_file": name}`: a text file logged as an artifact;
- `{"message": path}`: a message too long for one pipe write, read from that file.
  Each of these is answered `{"done": seq}` (with `"error": text` if MLflow refused it), and
  its file removed;
- `{"end": "FINISHED" | "FAILED"}`: the run is ended so if this process created it (a run it
  was given is left as it is), then the process ends. At the end of input without `end`
  (the training process ended, or died, without closing the run), a run it created is
  marked FAILED, and the temporary folder removed.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import urllib.error
import urllib.request
from typing import Any

HEALTH_TIMEOUT = 5.0
"""Seconds the health probe of a tracking server may take at the start."""


def main() -> None:
    # the answers get their own copy of the pipe; whatever else writes to standard output
    # (MLflow, a C library) goes to the log instead
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    settings = json.loads(sys.argv[1])
    with contextlib.suppress(AttributeError, OSError):
        os.nice(5)  # training first: logging catches up between steps
    try:
        client, run_id, owned = _start(settings)
    except _Fatal as error:
        _answer(answers, {"fatal": str(error), "kind": error.kind})
        return
    except Exception as error:
        _answer(answers, {"fatal": f"{type(error).__name__}: {error}", "kind": "value"})
        return
    _answer(answers, {"ready": run_id})
    status = None
    for line in sys.stdin:
        message = json.loads(line)
        if "end" in message:
            status = message["end"]
            break
        if "message" in message:
            path = message["message"]
            with open(path, encoding="utf-8") as file:
                message = json.load(file)
            os.remove(path)
        _answer(answers, _log(client, run_id, message))
    if owned:
        client.set_terminated(run_id, status or "FAILED")
    if status is None:  # the training process is gone: its temporary folder is ours to remove
        shutil.rmtree(settings["folder"], ignore_errors=True)


class _Fatal(Exception):
    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


def _start(settings: dict[str, Any]) -> tuple[Any, str, bool]:
    """The client, the run to log into, and whether this process created it."""
    uri = settings["tracking_uri"]
    if uri.startswith(("http://", "https://")):
        _probe(uri)
    from mlflow import MlflowClient

    client = MlflowClient(uri)
    if settings["run_id"] is not None:
        try:
            run = client.get_run(settings["run_id"])
        except Exception as error:
            raise _Fatal(f"no run {settings['run_id']!r} in the MLflow store {uri} "
                         f"({type(error).__name__}: {error})", "value") from None
        return client, run.info.run_id, False
    experiment_id = settings["experiment_id"] or _experiment_id(client)
    run = client.create_run(experiment_id, tags={"mlflow.source.name": "epoch_eval"})
    return client, run.info.run_id, True


def _probe(uri: str) -> None:
    """Refuse a tracking server that does not answer at all, in seconds, not minutes."""
    try:
        with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=HEALTH_TIMEOUT):
            pass
    except urllib.error.HTTPError:
        pass  # it answers (a proxy without /health): MLflow's own calls will tell
    except (OSError, ValueError) as error:
        raise _Fatal(f"the MLflow tracking server {uri} does not answer ({error})",
                     "connection") from None


def _experiment_id(client: Any) -> str:
    """The experiment MLflow's own `start_run` would pick from the environment: Default
    unless `MLFLOW_EXPERIMENT_ID` or `MLFLOW_EXPERIMENT_NAME` says otherwise."""
    if os.environ.get("MLFLOW_EXPERIMENT_ID"):
        return os.environ["MLFLOW_EXPERIMENT_ID"]
    name = os.environ.get("MLFLOW_EXPERIMENT_NAME")
    if name:
        experiment = client.get_experiment_by_name(name)
        return experiment.experiment_id if experiment else client.create_experiment(name)
    return "0"


def _log_params(client: Any, run_id: str, params: dict[str, str]) -> None:
    """Log each param on its own, after the metrics: one MLflow refuses (a value changed
    since an earlier fit into the same run) costs neither the epoch's metrics nor the other
    params. Raises the first refusal."""
    refusal: Exception | None = None
    for name, text in params.items():
        try:
            client.log_param(run_id, name, text)
        except Exception as error:
            refusal = refusal or error
    if refusal is not None:
        raise refusal


def _log(client: Any, run_id: str, message: dict[str, Any]) -> dict[str, Any]:
    answer: dict[str, Any] = {"done": message["seq"]}
    try:
        if "metrics" in message:
            from mlflow.entities import Metric

            client.log_batch(
                run_id,
                metrics=[Metric(name, value, message["timestamp"], message["step"])
                         for name, value in message["metrics"].items()])
            _log_params(client, run_id, message["params"])
        elif "image" in message:
            from PIL import Image

            with Image.open(message["image"]) as image:
                image.load()
                client.log_image(run_id, image, key=message["key"], step=message["step"],
                                 timestamp=message["timestamp"])
        elif "text" in message:
            with open(message["text"], encoding="utf-8") as file:
                client.log_text(run_id, file.read(), message["artifact_file"])
    except Exception as error:
        answer["error"] = f"{type(error).__name__}: {error}"
    finally:
        for key in ("image", "text"):
            if key in message:
                with contextlib.suppress(OSError):
                    os.remove(message[key])
    return answer


def _answer(stream: Any, answer: dict[str, Any]) -> None:
    try:
        stream.write(json.dumps(answer) + "\n")
        stream.flush()
    except OSError:  # the training process is gone: the run is still ended below
        pass


if __name__ == "__main__":
    main()
