"""The evaluator inside Keras: History, the callbacks after it, every=N, NaN, printing."""

from __future__ import annotations

import csv
import gc
import warnings

import keras
import numpy as np
import pytest
from conftest import mlp

from epoch_eval import EpochEvaluator, HistoryLogs, PngFolder, Stdout


def test_callbacks_listed_after_see_val_f1(digits, tmp_path):
    x_train, y_train, x_val, y_val = digits
    model = mlp(64, 10)
    log = tmp_path / "log.csv"
    checkpoint = tmp_path / "best.keras"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = model.fit(x_train, y_train, epochs=3, verbose=0, callbacks=[
            EpochEvaluator((x_val, y_val)),
            keras.callbacks.EarlyStopping(monitor="val_f1", mode="max", patience=1),
            keras.callbacks.ModelCheckpoint(checkpoint, monitor="val_f1", mode="max",
                                            save_best_only=True),
            keras.callbacks.CSVLogger(log),
            keras.callbacks.ReduceLROnPlateau(monitor="val_f1", mode="max", patience=1),
        ])
    assert not [w for w in caught if "val_f1" in str(w.message)]  # "... not available"
    assert checkpoint.exists()
    rows = list(csv.DictReader(log.open()))
    assert [float(row["val_f1"]) for row in rows] == pytest.approx(history.history["val_f1"])
    for key in ("val_precision", "val_recall", "val_roc_auc", "val_pr_auc", "val_accuracy"):
        assert key in rows[0]


def test_early_stopping_stops_on_val_f1(digits):
    x_train, y_train, x_val, y_val = digits
    model = mlp(64, 10)
    model.compile(keras.optimizers.SGD(learning_rate=0.0), "sparse_categorical_crossentropy")
    history = model.fit(x_train, y_train, epochs=10, verbose=0, callbacks=[
        EpochEvaluator((x_val, y_val)),
        keras.callbacks.EarlyStopping(monitor="val_f1", mode="max", patience=2),
    ])
    # a frozen model's F1 never improves: the best epoch, then two more, then a stop
    assert len(history.history["loss"]) == 3
    assert len(set(history.history["val_f1"])) == 1


def test_keras_own_val_accuracy_is_never_overwritten(digits):
    x_train, y_train, x_val, y_val = digits
    model = mlp(64, 10)
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    noisy_labels = y_val.copy()
    noisy_labels[:100] = (noisy_labels[:100] + 1) % 10  # our accuracy differs from Keras'
    with pytest.warns(UserWarning, match=r"\['val_accuracy'\] already in the epoch's logs.*"
                                         "prefix") as caught:
        history = model.fit(x_train, y_train, epochs=2, verbose=0,
                            validation_data=(x_val, y_val),
                            callbacks=[EpochEvaluator((x_val, noisy_labels))])
    assert sum("already in the epoch's logs" in str(w.message) for w in caught) == 1
    keras_accuracy = model.evaluate(x_val, y_val, verbose=0, return_dict=True)["accuracy"]
    assert history.history["val_accuracy"][-1] == pytest.approx(keras_accuracy, abs=1e-6)
    assert "val_f1" in history.history


def test_every_n_epochs_and_the_last_one(digits, tmp_path):
    x_train, y_train, x_val, y_val = digits
    model = mlp(64, 10)
    seen = []

    class Seen(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append("val_f1" in logs)

    history = model.fit(x_train, y_train, epochs=5, verbose=0, callbacks=[
        EpochEvaluator((x_val, y_val), every=2,
                       sinks=[HistoryLogs(), PngFolder(tmp_path, charts=["roc_curve"])]),
        Seen()])
    assert seen == [False, True, False, True, True]
    assert len(history.history["val_f1"]) == 3
    assert sorted(p.name for p in tmp_path.glob("*.png")) == [
        "roc_curve_epoch_002.png", "roc_curve_epoch_004.png", "roc_curve_epoch_005.png"]


def test_nan_predictions_keep_training_and_skip_charts(digits, tmp_path):
    x_train, y_train, x_val, y_val = digits
    model = mlp(64, 10)
    kernel = model.layers[-1].kernel
    kernel.assign(np.full(kernel.shape, np.nan, dtype="float32"))
    with pytest.warns(RuntimeWarning) as caught:
        history = model.fit(x_train, y_train, epochs=2, verbose=0, callbacks=[
            EpochEvaluator((x_val, y_val), sinks=[HistoryLogs(), PngFolder(tmp_path)])])
    messages = [str(w.message) for w in caught]
    assert any("model predicted 4500 NaN or infinite values" in m for m in messages)
    assert any("no charts for epoch 2" in m for m in messages)
    assert len(history.history["loss"]) == 2
    assert np.isnan(history.history["val_f1"]).all()
    assert list(tmp_path.glob("*.png")) == []


def test_a_chart_that_fails_is_a_warning(digits, tmp_path, monkeypatch):
    from epoch_eval.sinks.drawer_process import DrawerProcess

    def broken(*args, **kwargs):
        raise RuntimeError("no fonts today")

    monkeypatch.setattr(DrawerProcess, "png", broken)  # as the chart process re-raises it
    x_train, y_train, x_val, y_val = digits
    model = mlp(64, 10)
    with pytest.warns(RuntimeWarning, match="could not draw roc_curve for epoch 1 "
                                            r"\(RuntimeError: no fonts today\)"):
        history = model.fit(x_train, y_train, epochs=1, verbose=0, callbacks=[EpochEvaluator(
            (x_val, y_val), sinks=[HistoryLogs(), PngFolder(tmp_path)])])
    assert "val_f1" in history.history
    assert list(tmp_path.iterdir()) == []


def test_no_figure_left_after_25_epochs(digits, tmp_path):
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    x_train, y_train, x_val, y_val = digits
    model = mlp(64, 10)
    model.fit(x_train[:200], y_train[:200], epochs=25, verbose=0, callbacks=[EpochEvaluator(
        (x_val, y_val), sinks=[PngFolder(tmp_path)])])
    gc.collect()
    assert plt.get_fignums() == []
    assert [o for o in gc.get_objects() if isinstance(o, Figure)] == []
    assert len(list(tmp_path.glob("*.png"))) == 75
    assert list(tmp_path.glob(".*")) == []  # no temporary file left behind


def test_stdout_lines_follow_keras_epoch_lines(digits, capsys):
    x_train, y_train, x_val, y_val = digits
    model = mlp(64, 10)
    model.fit(x_train, y_train, epochs=2, verbose=2, callbacks=[
        EpochEvaluator((x_val, y_val), sinks=[HistoryLogs(), Stdout()])])
    lines = [line for line in capsys.readouterr().out.splitlines() if line.strip()]
    ours = [i for i, line in enumerate(lines) if line.startswith("epoch_eval epoch")]
    assert len(ours) == 2
    for index in ours:  # right after Keras' own line for that epoch, which shows val_f1 too
        assert "val_f1:" in lines[index - 1]


def test_one_instance_serves_several_fits(digits, tmp_path):
    x_train, y_train, x_val, y_val = digits
    model = mlp(64, 10)
    evaluator = EpochEvaluator((x_val, y_val), sinks=[HistoryLogs(), PngFolder(tmp_path)])
    first = model.fit(x_train, y_train, epochs=1, verbose=0, callbacks=[evaluator])
    second = model.fit(x_train, y_train, epochs=2, verbose=0, callbacks=[evaluator])
    assert len(first.history["val_f1"]) == 1 and len(second.history["val_f1"]) == 2
    assert len(list(tmp_path.glob("*.png"))) == 6
