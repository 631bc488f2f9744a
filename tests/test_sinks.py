"""The sinks on their own, fed hand-made epochs (no Keras)."""

from __future__ import annotations

import io
import math

import matplotlib.image
import numpy as np
import pytest

from epoch_eval import EpochResult, HistoryLogs, PngFolder, Sink, Stdout, evaluate
from epoch_eval.metrics.result import Evaluation


@pytest.fixture(scope="module")
def evaluation():
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 3, 300)
    scores = rng.dirichlet(np.ones(3), 300)
    scores[np.arange(300), y_true] += 0.5
    return evaluate(y_true, scores / scores.sum(axis=1, keepdims=True),
                    class_names=["cat", "dog", "bird"])


def undefined() -> Evaluation:
    return Evaluation.undefined(task="multiclass", n_samples=10, class_names=("a", "b", "c"),
                                threshold=0.5, average="macro", reason="the model predicted NaN")


def test_history_logs_writes_python_floats(evaluation):
    logs: dict = {"loss": 0.3}
    HistoryLogs().write(EpochResult(1, evaluation, logs))
    assert logs["val_f1"] == evaluation.f1 and type(logs["val_f1"]) is float
    assert set(logs) == {"loss", "val_f1", "val_precision", "val_recall", "val_accuracy",
                         "val_roc_auc", "val_pr_auc"}


def test_history_logs_per_class_and_prefix(evaluation):
    logs: dict = {}
    HistoryLogs(prefix="ee_", per_class=True).write(EpochResult(1, evaluation, logs))
    assert logs["ee_f1_dog"] == pytest.approx(evaluation.per_class.f1[1])
    assert logs["ee_recall_bird"] == pytest.approx(evaluation.per_class.recall[2])


def test_history_logs_never_overwrites_and_warns_once(evaluation):
    sink = HistoryLogs()
    sink.open()
    with pytest.warns(UserWarning, match=r"\['val_accuracy'\].*prefix='val_ee_'"):
        logs = {"val_accuracy": 0.123}
        sink.write(EpochResult(1, evaluation, logs))
    assert logs["val_accuracy"] == 0.123
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sink.write(EpochResult(2, evaluation, {"val_accuracy": 0.5}))  # no second warning


def test_stdout_line_has_four_decimals(evaluation):
    stream = io.StringIO()
    Stdout(stream).write(EpochResult(7, evaluation, {}))
    line = stream.getvalue().rstrip("\n")
    assert line == (f"epoch_eval epoch 7: f1 {evaluation.f1:.4f} - precision "
                    f"{evaluation.precision:.4f} - recall {evaluation.recall:.4f} - accuracy "
                    f"{evaluation.accuracy:.4f} - roc_auc {evaluation.roc_auc:.4f} - pr_auc "
                    f"{evaluation.pr_auc:.4f} (macro, 300 samples)")


def test_stdout_report_has_a_row_per_class(evaluation):
    stream = io.StringIO()
    Stdout(stream, report=True).write(EpochResult(1, evaluation, {}))
    lines = stream.getvalue().splitlines()
    assert lines[1].split() == ["precision", "recall", "f1", "support", "roc_auc", "pr_auc"]
    rows = {line.split()[0]: line.split()[1:] for line in lines[2:]}
    assert list(rows) == ["cat", "dog", "bird"]
    assert rows["dog"][0] == f"{evaluation.per_class.precision[1]:.4f}"
    assert rows["dog"][3] == str(int(evaluation.per_class.support[1]))
    assert rows["dog"][4] == f"{evaluation.roc_curves[1].auc:.4f}"


def test_stdout_says_why_metrics_are_nan():
    stream = io.StringIO()
    Stdout(stream, report=True).write(EpochResult(3, undefined(), {}))
    assert stream.getvalue() == ("epoch_eval epoch 3: metrics are nan (the model predicted "
                                 "NaN)\n")


def test_history_logs_writes_nan_for_an_undefined_epoch():
    logs: dict = {}
    HistoryLogs().write(EpochResult(1, undefined(), logs))
    assert math.isnan(logs["val_f1"])


def test_png_folder_writes_complete_pngs(evaluation, tmp_path):
    sink = PngFolder(tmp_path / "new" / "charts")
    sink.open()
    for epoch in (1, 2):
        sink.write(EpochResult(epoch, evaluation, {}))
    sink.close()
    files = sorted(p.name for p in (tmp_path / "new" / "charts").iterdir())
    assert files == [f"{chart}_epoch_{epoch:03d}.png"
                     for chart in ("confusion_matrix", "pr_curve", "roc_curve")
                     for epoch in (1, 2)]
    image = matplotlib.image.imread(tmp_path / "new" / "charts" / "roc_curve_epoch_002.png")
    assert image.ndim == 3 and image.shape[0] > 300 and image.shape[1] > 400


def test_png_folder_skips_an_undefined_epoch_with_a_warning(tmp_path):
    sink = PngFolder(tmp_path)
    sink.open()
    with pytest.warns(RuntimeWarning, match="no charts for epoch 4: the model predicted NaN"):
        sink.write(EpochResult(4, undefined(), {}))
    sink.close()
    assert list(tmp_path.iterdir()) == []


def test_a_custom_sink_needs_only_write(evaluation):
    class Collect(Sink):
        def __init__(self):
            self.epochs: list[int] = []

        def write(self, result: EpochResult) -> None:
            self.epochs.append(result.epoch)

    sink = Collect()
    sink.open()
    sink.write(EpochResult(5, evaluation, {}))
    sink.close()
    assert sink.epochs == [5]
    with pytest.raises(NotImplementedError, match="must implement write"):
        Sink().write(EpochResult(1, evaluation, {}))


def test_history_logs_per_class_keys_never_collide():
    result = evaluate([0, 1, 2, 2], np.eye(3)[[0, 1, 2, 1]], class_names=["a b", "a-b", "c"])
    logs: dict = {}
    HistoryLogs(per_class=True).write(EpochResult(1, result, logs))
    assert logs["val_recall_a_b"] == 1.0 and logs["val_recall_a_b_1"] == 1.0
    assert logs["val_recall_c"] == 0.5


def test_png_folder_processes_is_deprecated_and_ignored(tmp_path):
    with pytest.warns(DeprecationWarning, match=r"processes=.*deprecated and ignored"):
        sink = PngFolder(tmp_path, processes=2)
    assert not hasattr(sink, "processes")
