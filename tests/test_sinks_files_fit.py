"""The three file sinks in a real `fit()`, on whichever Keras backend runs the tests."""

from __future__ import annotations

import json

import keras
import pytest
from conftest import mlp
from test_sinks_html_report import trend_figures, xy

from epoch_eval import EpochEvaluator, HistoryLogs, HtmlReport, JsonLines, read_jsonl

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from epoch_eval import TensorBoardLogs


@pytest.mark.parametrize("every", [1, 2])
def test_fit_feeds_tensorboard_html_and_jsonl_the_same_epochs(digits, tmp_path, every):
    x_train, y_train, x_val, y_val = digits
    model = mlp(64, 10)
    sinks = [HistoryLogs(), TensorBoardLogs(tmp_path / "logs"),
             HtmlReport(tmp_path / "report.html"), JsonLines(tmp_path / "run.jsonl")]
    # listed after the evaluator, it logs `learning_rate` after the sinks ran (and halves it)
    plateau = keras.callbacks.ReduceLROnPlateau("loss", factor=0.5, patience=0, min_delta=1.0)
    history = model.fit(x_train, y_train, epochs=4, verbose=0,
                        callbacks=[EpochEvaluator((x_val, y_val), sinks=sinks, every=every),
                                   plateau])

    evaluated = [1, 2, 3, 4][every - 1::every]
    read = read_jsonl(tmp_path / "run.jsonl")
    assert [epoch for epoch, _ in read] == evaluated
    assert read[-1][1].f1 == history.history["val_f1"][-1]

    run = EventAccumulator(str(tmp_path / "logs" / "validation"),
                           size_guidance={"images": 0, "scalars": 0, "tensors": 0})
    run.Reload()
    assert [s.step + 1 for s in run.Scalars("epoch_f1")] == evaluated
    assert [s.value for s in run.Scalars("epoch_f1")] == pytest.approx([e.f1 for _, e in read],
                                                                       rel=1e-6)
    assert [s.step + 1 for s in run.Images("epoch_confusion_matrix")] == evaluated

    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    data = json.loads(page.split('id="epoch-data">')[1].split("</script>")[0])
    assert [item["epoch"] for item in data["epochs"]] == evaluated
    assert all(len(item["charts"]) == 3 for item in data["epochs"])
    trends = trend_figures(tmp_path / "report.html")  # Keras' own logs have their lines
    assert "val_f1 (Keras)" not in trends  # epoch_eval's keys are not taken for Keras'
    for key in ("loss", "learning_rate"):
        line = xy(trends[f"{key} (Keras)"].find("polyline").get("points"))
        assert [x for x, _ in line] == evaluated
        assert [-y for _, y in line] == pytest.approx(
            [history.history[key][epoch - 1] for epoch in evaluated], rel=1e-5)
    last = read[-1][1]
    low, high = last.intervals["f1"]  # the evaluator's default: 95% intervals
    assert data["epochs"][-1]["scalars"]["f1"] == f"{last.f1:.4f} [{low:.4f}, {high:.4f}]"
    assert [s.value for s in run.Scalars("epoch_f1_low")] == pytest.approx(
        [e.intervals["f1"][0] for _, e in read], rel=1e-6)
