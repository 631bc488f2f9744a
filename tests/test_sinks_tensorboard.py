"""`TensorBoardLogs`: read back with TensorBoard's own `EventAccumulator`."""

from __future__ import annotations

import importlib.util
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image
from sink_epochs import TASKS, epochs

pytest.importorskip("tensorboard")

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from epoch_eval import TensorBoardLogs
from epoch_eval.metrics.result import SCALAR_NAMES

EVERYTHING = {"images": 0, "scalars": 0, "tensors": 0}


def read_run(run_dir) -> EventAccumulator:
    accumulator = EventAccumulator(str(run_dir), size_guidance=EVERYTHING)
    accumulator.Reload()
    return accumulator


@pytest.mark.parametrize("task", sorted(TASKS))
def test_every_epoch_scalars_and_images_read_back(task, tmp_path, capsys):
    written = epochs(task, 4)
    sink = TensorBoardLogs(tmp_path / "logs")
    sink.open()
    for result in written:
        sink.write(result)
    sink.close()

    run = read_run(tmp_path / "logs" / "validation")
    for name in SCALAR_NAMES:
        events = run.Scalars(f"epoch_{name}")
        assert [event.step for event in events] == [0, 1, 2, 3]  # Keras' 0-based epochs
        expected = [result.evaluation.scalars()[name] for result in written]
        assert [event.value for event in events] == pytest.approx(expected, rel=1e-6,
                                                                  nan_ok=True)
    images = run.Tags()["images"]
    if task == "undefined":
        assert images == []  # nothing is drawn for an epoch whose metrics are nan
    else:
        assert sorted(images) == ["epoch_confusion_matrix", "epoch_pr_curve", "epoch_roc_curve"]
        for tag in images:
            events = run.Images(tag)
            assert [event.step for event in events] == [0, 1, 2, 3]
            for event in events:
                with Image.open(io.BytesIO(event.encoded_image_string)) as image:
                    image.load()
                    assert image.size == (event.width, event.height)
                    assert image.getextrema()[0][0] < 200  # something dark was drawn
    assert "--samples_per_plugin images=" in capsys.readouterr().err


def test_per_class_scalars_and_a_subset_of_charts(tmp_path):
    written = epochs("multiclass", 2)
    sink = TensorBoardLogs(tmp_path, charts=("roc_curve",), per_class=True)
    for result in written:
        sink.write(result)
    sink.close()
    run = read_run(tmp_path / "validation")
    assert run.Tags()["images"] == ["epoch_roc_curve"]
    f1 = run.Scalars("epoch_f1/class_02")
    assert [event.value for event in f1] == pytest.approx(
        [float(result.evaluation.per_class.f1[2]) for result in written], rel=1e-6)


def test_each_epoch_is_on_disk_before_the_next(tmp_path):
    sink = TensorBoardLogs(tmp_path, charts=())
    sink.open()
    for result in epochs("binary", 2):
        sink.write(result)
        # not closed: a crash now must lose nothing already written
        assert len(read_run(tmp_path / "validation").Scalars("epoch_f1")) == result.epoch
    sink.close()


def test_output_files_and_bad_arguments(tmp_path):
    sink = TensorBoardLogs(tmp_path / "logs")
    assert sink.output_files()[0].startswith(str((tmp_path / "logs" / "validation").absolute()))
    with pytest.raises(ValueError, match="Unknown chart name"):
        TensorBoardLogs(tmp_path, charts=("histogram",))
    (tmp_path / "file").write_text("")
    with pytest.raises(NotADirectoryError, match="not a folder"):
        TensorBoardLogs(tmp_path / "file").open()


def test_without_tensorboard_construction_names_the_extra(tmp_path, monkeypatch):
    for name in [m for m in sys.modules if m == "tensorboard" or m.startswith("tensorboard.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "tensorboard", None)  # as if not installed
    with pytest.raises(ImportError, match=r"epoch-eval\[tensorboard\]"):
        TensorBoardLogs(tmp_path)


def test_fit_writes_beside_keras_tensorboard_callback(digits, tmp_path):
    pytest.importorskip("tensorflow")  # Keras' own TensorBoard callback writes with tf.summary
    import keras
    from conftest import mlp

    from epoch_eval import EpochEvaluator

    x_train, y_train, x_val, y_val = digits
    model = mlp(64, 10)
    log_dir = tmp_path / "logs"
    model.fit(x_train, y_train, epochs=3, verbose=0, validation_data=(x_val, y_val),
              callbacks=[EpochEvaluator((x_val, y_val),
                                        sinks=[TensorBoardLogs(log_dir, charts=("roc_curve",))]),
                         keras.callbacks.TensorBoard(str(log_dir))])
    run = read_run(log_dir / "validation")
    tags = run.Tags()
    keras_loss = tags["scalars"] + tags["tensors"]
    assert "epoch_loss" in keras_loss and "epoch_f1" in tags["scalars"]
    assert [event.step for event in run.Scalars("epoch_f1")] == [0, 1, 2]
    assert [event.step for event in run.Images("epoch_roc_curve")] == [0, 1, 2]


def test_writes_without_tensorflow_where_it_is_not_installed(tmp_path):
    if importlib.util.find_spec("tensorflow") is not None:
        pytest.skip("TensorFlow is installed here (the `tensorboard` package then imports it "
                    "itself); this check runs in the JAX and torch environments")
    script = (
        "import sys\n"
        "from sink_epochs import epochs\n"
        "from epoch_eval import TensorBoardLogs\n"
        f"sink = TensorBoardLogs({str(tmp_path)!r})\n"
        "for result in epochs('binary', 2): sink.write(result)\n"
        "sink.close()\n"
        "assert 'tensorflow' not in sys.modules, 'tensorflow was imported'\n"
    )
    tests = Path(__file__).parent
    path = os.pathsep.join([str(tests), str(tests.parent)])
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "PYTHONPATH": path})
    assert done.returncode == 0, done.stderr
    assert len(read_run(tmp_path / "validation").Images("epoch_roc_curve")) == 2


@pytest.mark.parametrize("task", ["binary", "multilabel", "multiclass"])
def test_intervals_churn_and_best_threshold_are_scalars(task, tmp_path):
    written = epochs(task, 3, honest=True)
    sink = TensorBoardLogs(tmp_path, charts=())
    for result in written:
        sink.write(result)
    sink.close()
    run = read_run(tmp_path / "validation")
    for name in SCALAR_NAMES:
        for side, bound in (("low", 0), ("high", 1)):
            events = run.Scalars(f"epoch_{name}_{side}")
            assert [event.step for event in events] == [0, 1, 2]
            assert [event.value for event in events] == pytest.approx(
                [result.evaluation.intervals[name][bound] for result in written], rel=1e-6)
    churn = run.Scalars("epoch_churn")  # none at the first epoch
    assert [event.step for event in churn] == [1, 2]
    assert [event.value for event in churn] == pytest.approx(
        [result.evaluation.churn for result in written[1:]], rel=1e-6)
    threshold_tags = sorted(tag for tag in run.Tags()["scalars"] if "threshold" in tag)
    if task == "binary":
        assert threshold_tags == ["epoch_best_threshold", "epoch_f1_at_best_threshold",
                                  "epoch_f1_at_best_threshold_heldout"]
        assert [event.value for event in run.Scalars("epoch_best_threshold")] == pytest.approx(
            [result.evaluation.best_threshold for result in written], rel=1e-6)
    else:
        assert threshold_tags == []  # per label (multilabel) or none (multiclass)


def test_no_interval_tags_without_intervals(tmp_path):
    sink = TensorBoardLogs(tmp_path, charts=())
    for result in epochs("binary", 2):
        sink.write(result)
    sink.close()
    tags = set(read_run(tmp_path / "validation").Tags()["scalars"])
    assert {f"epoch_{name}" for name in SCALAR_NAMES} <= tags
    assert not [tag for tag in tags if tag.endswith(("_low", "_high")) or "churn" in tag]
