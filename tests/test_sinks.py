"""The sinks on their own, fed hand-made epochs (no Keras)."""

from __future__ import annotations

import dataclasses
import io
import math

import matplotlib.image
import numpy as np
import pytest
from chart_evaluations import binary, multilabel
from sink_epochs import with_honest_fields

from epoch_eval import EpochResult, HistoryLogs, PngFolder, Sink, Stdout, evaluate
from epoch_eval.metrics.result import SCALAR_NAMES, Evaluation
from epoch_eval.sinks.stdout import format_epoch_line, format_report


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
    rows = {line.split()[0]: line.split()[1:] for line in lines[2:5]}
    assert list(rows) == ["cat", "dog", "bird"]
    pairs = evaluation.confused_pairs()
    assert lines[5] == "most confused (true -> predicted: count, rate of the true class)"
    assert lines[6] == (f"  {pairs[0].true} -> {pairs[0].predicted}: {pairs[0].count:g}, "
                        f"{pairs[0].rate:.1%}")
    assert len(lines) == 6 + len(pairs)
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


# --- Intervals, churn and the best threshold ----------------------------------------------

def test_stdout_line_shows_intervals_churn_and_the_best_threshold():
    evaluation = with_honest_fields(binary(seed=2), epoch=2)
    stream = io.StringIO()
    Stdout(stream).write(EpochResult(2, evaluation, {}))
    line = stream.getvalue().rstrip("\n")
    iv = evaluation.intervals
    values = " - ".join(f"{name} {getattr(evaluation, name):.4f} [{iv[name][0]:.4f}, "
                        f"{iv[name][1]:.4f}]" for name in SCALAR_NAMES)
    assert line == (f"epoch_eval epoch 2: {values} (binary, 400 samples, 95% intervals) - churn "
                    f"{evaluation.churn:.4f} - best threshold {evaluation.best_threshold:.4f} "
                    f"(f1 {evaluation.f1_at_best_threshold:.4f}, held-out "
                    f"{evaluation.f1_at_best_threshold_heldout:.4f})")
    assert f"f1 {evaluation.f1:.4f} [" in line and "churn 0.0210" in line


def test_stdout_line_without_held_out_or_churn_and_with_nan_bounds():
    evaluation = dataclasses.replace(
        with_honest_fields(binary(seed=1), epoch=1), f1_at_best_threshold_heldout=None,
        intervals={**with_honest_fields(binary(seed=1), epoch=1).intervals,
                   "roc_auc": (math.nan, math.nan)})
    line = format_epoch_line(1, evaluation)
    assert "churn" not in line  # None at the first epoch
    assert line.endswith(f"95% intervals) - best threshold {evaluation.best_threshold:.4f} "
                         f"(f1 {evaluation.f1_at_best_threshold:.4f})")
    assert f"roc_auc {evaluation.roc_auc:.4f} [nan, nan] - pr_auc" in line


def test_stdout_multilabel_line_gives_the_mean_and_report_each_label():
    evaluation = with_honest_fields(multilabel(3, n=300, seed=3), epoch=3)
    f1 = np.asarray(evaluation.f1_at_best_threshold)
    heldout = np.asarray(evaluation.f1_at_best_threshold_heldout)
    stream = io.StringIO()
    Stdout(stream, report=True).write(EpochResult(3, evaluation, {}))
    lines = stream.getvalue().splitlines()
    assert lines[0].endswith(f"(macro, 300 samples, 95% intervals) - churn 0.0310 - best "
                             f"thresholds per label: mean f1 {f1.mean():.4f}, held-out "
                             f"{heldout.mean():.4f}")
    assert lines[1].split() == ["precision", "recall", "f1", "support", "roc_auc", "pr_auc",
                                "best_thr", "f1@best", "held_out"]
    label_1 = lines[3].split()
    assert label_1[0] == "label_1"
    assert label_1[-3:] == [f"{evaluation.best_threshold[1]:.4f}", f"{f1[1]:.4f}",
                            f"{heldout[1]:.4f}"]


def test_stdout_report_shows_per_class_intervals(evaluation):
    rich = dataclasses.replace(evaluation, per_class_intervals={
        "precision": np.array([[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]]),
        "recall": np.array([[0.11, 0.21], [0.31, 0.41], [0.51, 0.61]]),
        "f1": np.array([[0.12, 0.22], [0.32, 0.42], [0.52, 0.62]])})
    table = format_report(rich).splitlines()
    dog = table[2]
    assert dog.split()[0] == "dog"
    assert (f"{evaluation.per_class.precision[1]:.4f} [0.3000, 0.4000] "
            f"{evaluation.per_class.recall[1]:.4f} [0.3100, 0.4100] "
            f"{evaluation.per_class.f1[1]:.4f} [0.3200, 0.4200]") in " ".join(dog.split())
    assert dog.split()[-3:] == [str(int(evaluation.per_class.support[1])),
                                f"{evaluation.roc_curves[1].auc:.4f}",
                                f"{evaluation.pr_curves[1].average_precision:.4f}"]
    assert len({len(line) for line in table}) == 1  # the columns line up


def test_history_logs_intervals_and_best_threshold_for_binary():
    evaluation = with_honest_fields(binary(seed=2), epoch=2)
    logs: dict = {"loss": 0.3}
    HistoryLogs(intervals=True).write(EpochResult(2, evaluation, logs))
    expected = {"loss": 0.3, **{f"val_{k}": v for k, v in evaluation.scalars().items()},
                "val_churn": evaluation.churn,
                "val_best_threshold": evaluation.best_threshold,
                "val_f1_at_best_threshold": evaluation.f1_at_best_threshold,
                "val_f1_at_best_threshold_heldout": evaluation.f1_at_best_threshold_heldout}
    for name, (low, high) in evaluation.intervals.items():
        expected[f"val_{name}_low"], expected[f"val_{name}_high"] = low, high
    assert logs == expected
    assert all(type(value) is float for value in logs.values())


def test_history_logs_churn_by_default_but_intervals_only_when_asked():
    first, second = (with_honest_fields(multilabel(3, n=300, seed=e), epoch=e) for e in (1, 2))
    logs: dict = {}
    HistoryLogs().write(EpochResult(1, first, logs))
    assert set(logs) == {f"val_{name}" for name in SCALAR_NAMES}  # churn is None at first
    logs = {}
    HistoryLogs().write(EpochResult(2, second, logs))
    assert logs["val_churn"] == second.churn and type(logs["val_churn"]) is float
    assert not any(key.endswith(("_low", "_high")) for key in logs)
    logs = {}
    HistoryLogs(intervals=True).write(EpochResult(2, second, logs))
    assert logs["val_recall_high"] == second.intervals["recall"][1]
    assert not any("threshold" in key for key in logs)  # multilabel: arrays stay out of logs


def test_history_logs_numpy_intervals_become_python_floats():
    evaluation = dataclasses.replace(
        binary(), intervals={"f1": (np.float32(0.25), np.float64(0.75))},
        best_threshold=np.float32(0.5), f1_at_best_threshold=np.float64(0.8), churn=np.float32(0),
        f1_at_best_threshold_heldout=None)
    logs: dict = {}
    HistoryLogs(intervals=True).write(EpochResult(1, evaluation, logs))
    assert (logs["val_f1_low"], logs["val_f1_high"], logs["val_best_threshold"],
            logs["val_churn"]) == (0.25, 0.75, 0.5, 0.0)
    assert "val_precision_low" not in logs and "val_f1_at_best_threshold_heldout" not in logs
    assert all(type(value) is float for value in logs.values())


def test_history_logs_never_overwrites_the_new_keys_either():
    evaluation = with_honest_fields(binary(seed=2), epoch=2)
    logs: dict = {"val_churn": "theirs", "val_f1_low": -1.0}
    with pytest.warns(UserWarning, match=r"\['val_churn', 'val_f1_low'\]"):
        HistoryLogs(intervals=True).write(EpochResult(2, evaluation, logs))
    assert logs["val_churn"] == "theirs" and logs["val_f1_low"] == -1.0
    assert logs["val_f1_high"] == evaluation.intervals["f1"][1]
