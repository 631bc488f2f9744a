"""Tally mode: the evaluator reads a compiled `Tally` after fit's own validation pass. Every
count equals scikit-learn's on `model.predict(x_val)`; the AUC lies within its certified bound.
Backend-neutral (TensorFlow, JAX, torch)."""

from __future__ import annotations

import io
import warnings

import keras
import numpy as np
import pytest
from scipy.special import expit, softmax
from sklearn import metrics

from epoch_eval import EpochEvaluator, Evaluation, HistoryLogs, PngFolder, Stdout, Tally
from epoch_eval.callback.tally import LOG_KEYS


def small_mlp(n_inputs: int, n_outputs: int, activation: str | None, seed: int = 0):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([keras.Input((n_inputs,)), keras.layers.Dense(16, activation="relu"),
                             keras.layers.Dense(n_outputs, activation=activation)])


class Recorder(HistoryLogs):
    """HistoryLogs that also keeps every Evaluation it is handed."""

    def __init__(self) -> None:
        super().__init__()
        self.evaluations: list[Evaluation] = []
        self.keras_logs: list[dict[str, float]] = []

    def write(self, result) -> None:
        self.evaluations.append(result.evaluation)
        self.keras_logs.append(dict(result.keras_logs))
        super().write(result)


def assert_counts_match(evaluation: Evaluation, y_true, predicted, weight=None, *,
                        average: str, labels=None) -> None:
    kwargs = {"average": average, "zero_division": 0, "sample_weight": weight}
    assert evaluation.f1 == pytest.approx(metrics.f1_score(y_true, predicted, **kwargs),
                                          rel=1e-9)
    assert evaluation.precision == pytest.approx(
        metrics.precision_score(y_true, predicted, **kwargs), rel=1e-9)
    assert evaluation.recall == pytest.approx(
        metrics.recall_score(y_true, predicted, **kwargs), rel=1e-9)
    assert evaluation.accuracy == pytest.approx(
        metrics.accuracy_score(y_true, predicted, sample_weight=weight), rel=1e-9)
    if evaluation.task == "multilabel":
        expected = metrics.multilabel_confusion_matrix(y_true, predicted, sample_weight=weight)
    else:
        expected = metrics.confusion_matrix(y_true, predicted, labels=labels,
                                            sample_weight=weight)
    np.testing.assert_allclose(evaluation.confusion_matrix, expected, rtol=1e-9)


def assert_auc_certified(evaluation: Evaluation, exact: float, bound_below: float = 0.005):
    assert 0 < evaluation.roc_auc_error_bound < bound_below
    assert abs(evaluation.roc_auc - exact) <= evaluation.roc_auc_error_bound + 1e-12


def no_predict(model, monkeypatch) -> None:
    """Make any prediction during fit fail the test."""
    def refuse(*args, **kwargs):
        raise AssertionError("tally mode must not predict")
    monkeypatch.setattr(model, "predict", refuse)
    monkeypatch.setattr(model, "predict_on_batch", refuse)


def test_digits_multiclass_counts_equal_sklearn_without_predicting(digits, tmp_path,
                                                                   monkeypatch):
    x_train, y_train, x_val, y_val = digits
    model = small_mlp(64, 10, "softmax")
    tally = Tally(class_names=[f"digit {i}" for i in range(10)])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy", tally])
    recorder = Recorder()
    printed = io.StringIO()
    evaluator = EpochEvaluator(tally, sinks=[recorder, PngFolder(tmp_path), Stdout(printed)])
    predict, predict_on_batch = model.predict, model.predict_on_batch
    no_predict(model, monkeypatch)
    history = model.fit(x_train, y_train, epochs=8, batch_size=32, verbose=0,
                        validation_data=(x_val, y_val), callbacks=[evaluator])
    monkeypatch.setattr(model, "predict", predict)
    monkeypatch.setattr(model, "predict_on_batch", predict_on_batch)

    scores = model.predict(x_val, verbose=0)
    evaluation = recorder.evaluations[-1]
    assert evaluation.n_samples == len(y_val)
    assert_counts_match(evaluation, y_val, scores.argmax(axis=1), average="macro")
    assert_auc_certified(evaluation, metrics.roc_auc_score(y_val, scores, multi_class="ovr"))
    # the keys the tally owns hold the exact float64 values; Keras' val_accuracy is kept
    assert history.history["val_f1"][-1] == evaluation.f1
    assert history.history["val_roc_auc"][-1] == evaluation.roc_auc
    assert history.history["val_pr_auc"][-1] == evaluation.pr_auc
    assert history.history["val_accuracy"][-1] == pytest.approx(evaluation.accuracy, abs=1e-6)
    assert all(type(value) is float for values in history.history.values() for value in values)
    assert len(list(tmp_path.glob("roc_curve_epoch_*.png"))) == 8
    assert "roc_auc" in printed.getvalue() and "\u00b1" in printed.getvalue()


def test_breast_cancer_binary_one_sigmoid(breast_cancer):
    x_train, y_train, x_val, y_val = breast_cancer
    model = small_mlp(30, 1, "sigmoid")
    tally = Tally(threshold=0.4)
    model.compile("adam", "binary_crossentropy", metrics=[tally])
    recorder = Recorder()
    model.fit(x_train, y_train, epochs=5, verbose=0, validation_data=(x_val, y_val),
              callbacks=[EpochEvaluator(tally, sinks=[recorder])])
    scores = model.predict(x_val, verbose=0).reshape(-1)
    evaluation = recorder.evaluations[-1]
    assert evaluation.task == "binary"
    assert_counts_match(evaluation, y_val, (scores >= np.float32(0.4)).astype(int),
                        average="binary", labels=[0, 1])
    assert_auc_certified(evaluation, metrics.roc_auc_score(y_val, scores))
    assert evaluation.pr_auc == pytest.approx(metrics.average_precision_score(y_val, scores),
                                              abs=0.02)
    # the sinks' Keras values: Keras' own, without the tally's estimates of epoch_eval's keys
    for keras_logs in recorder.keras_logs:
        assert {"loss", "val_loss"} <= set(keras_logs)
        assert not set(keras_logs) & {f"val_{key}" for key in LOG_KEYS}


def test_multiclass_logits_and_sample_weights(digits):
    x_train, y_train, x_val, y_val = digits
    weight = np.random.default_rng(3).choice([0.5, 1.0, 2.0, 3.0], size=len(y_val))
    model = small_mlp(64, 10, None)
    tally = Tally(from_logits=True, average="weighted")
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  weighted_metrics=[tally])
    recorder = Recorder()
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="epoch_eval")  # weights seen: no warning
        model.fit(x_train, y_train, epochs=8, verbose=0,
                  validation_data=(x_val, y_val, weight),
                  callbacks=[EpochEvaluator(tally, sinks=[recorder])])
    logits = model.predict(x_val, verbose=0)
    evaluation = recorder.evaluations[-1]
    assert_counts_match(evaluation, y_val, logits.argmax(axis=1), weight, average="weighted")
    exact = metrics.roc_auc_score(y_val, softmax(logits.astype(np.float64), axis=1),
                                  multi_class="ovr", sample_weight=weight)
    assert_auc_certified(evaluation, exact)


def test_multilabel_logits(rng):
    generator = np.random.default_rng(5)
    x = generator.normal(size=(900, 12)).astype("float32")
    y = (x[:, :4] + 0.5 * generator.normal(size=(900, 4)) > 0).astype("float32")
    model = small_mlp(12, 4, None)
    tally = Tally(task="multilabel", from_logits=True, average="micro")
    model.compile(keras.optimizers.Adam(0.01), keras.losses.BinaryCrossentropy(from_logits=True),
                  metrics=[tally])
    recorder = Recorder()
    model.fit(x[:600], y[:600], epochs=6, verbose=0, validation_data=(x[600:], y[600:]),
              callbacks=[EpochEvaluator(tally, sinks=[recorder])])
    logits = model.predict(x[600:], verbose=0)
    evaluation = recorder.evaluations[-1]
    assert evaluation.task == "multilabel"
    assert_counts_match(evaluation, y[600:].astype(int), (logits >= 0).astype(int),
                        average="micro")
    assert_auc_certified(evaluation, metrics.roc_auc_score(
        y[600:], expit(logits.astype(np.float64)), average="macro"))


def test_epochs_without_validation_are_skipped_with_one_warning(digits):
    x_train, y_train, x_val, y_val = digits
    model = small_mlp(64, 10, "softmax")
    tally = Tally()
    model.compile("adam", "sparse_categorical_crossentropy", metrics=[tally])
    recorder = Recorder()
    with pytest.warns(UserWarning, match="no validation pass ran") as caught:
        history = model.fit(x_train, y_train, epochs=4, verbose=0, validation_freq=2,
                            validation_data=(x_val, y_val),
                            callbacks=[EpochEvaluator(tally, sinks=[recorder])])
    assert sum("no validation pass" in str(w.message) for w in caught) == 1
    assert len(recorder.evaluations) == 2
    assert len(history.history["val_f1"]) == 2


def test_unseen_validation_weights_warn(digits):
    x_train, y_train, x_val, y_val = digits
    model = small_mlp(64, 10, "softmax")
    tally = Tally()
    model.compile("adam", "sparse_categorical_crossentropy", metrics=[tally])
    with pytest.warns(UserWarning, match="weighted_metrics"):
        model.fit(x_train, y_train, epochs=1, verbose=0,
                  validation_data=(x_val, y_val, np.ones(len(y_val))),
                  callbacks=[EpochEvaluator(tally)])


def test_a_tally_not_compiled_is_refused_before_training(digits):
    x_train, y_train, x_val, y_val = digits
    model = small_mlp(64, 10, "softmax")
    model.compile("adam", "sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match="not compiled with the model"):
        model.fit(x_train, y_train, epochs=1, verbose=0, validation_data=(x_val, y_val),
                  callbacks=[EpochEvaluator(Tally())])


def test_settings_belong_to_the_tally():
    with pytest.raises(ValueError, match="threshold"):
        EpochEvaluator(Tally(), threshold=0.3)
    with pytest.raises(ValueError, match="bins"):
        Tally(bins=2)


def test_a_clashing_metric_name_keeps_its_key(breast_cancer):
    x_train, y_train, x_val, y_val = breast_cancer
    model = small_mlp(30, 1, "sigmoid")
    tally = Tally()
    model.compile("adam", "binary_crossentropy",
                  metrics=[tally, keras.metrics.Precision(name="precision")])
    with pytest.warns(UserWarning, match="precision"):
        history = model.fit(x_train, y_train, epochs=2, verbose=0,
                            validation_data=(x_val, y_val), callbacks=[EpochEvaluator(tally)])
    scores = model.predict(x_val, verbose=0).reshape(-1)
    keras_precision = metrics.precision_score(y_val, scores >= 0.5, zero_division=0)
    assert history.history["val_precision"][-1] == pytest.approx(keras_precision, abs=1e-6)


def test_nan_predictions_give_an_undefined_epoch_not_a_crash(breast_cancer):
    x_train, y_train, x_val, y_val = breast_cancer
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((30,)), keras.layers.Dense(1, activation="sigmoid")])
    tally = Tally()
    model.compile("adam", "mse", metrics=[tally])  # torch's cross-entropy refuses NaN itself
    x_val = x_val.copy()
    x_val[:5] = np.nan  # five rows whose scores are NaN
    recorder = Recorder()
    with pytest.warns(RuntimeWarning, match="predicted 5 NaN"):
        history = model.fit(x_train, y_train, epochs=1, verbose=0,
                            validation_data=(x_val, y_val),
                            callbacks=[EpochEvaluator(tally, sinks=[recorder])])
    assert recorder.evaluations[-1].undefined_reason is not None
    assert np.isnan(history.history["val_f1"][-1])


def test_epoch_logs_hold_every_estimate_though_steps_compute_none(digits):
    """Keras calls `result()` inside each step (per-batch logs) and once more eagerly for the
    epoch's logs, which a callback listed before the evaluator sees with every estimate; the
    evaluator then swaps in the exact values. The training pass is not counted (its logs get
    no tally keys), and fit's validation steps give nan (Keras shows no per-batch validation
    logs); outside fit, `evaluate` gets per-batch values (but the AUC inside compiled steps)."""
    x_train, y_train, x_val, y_val = digits
    model = small_mlp(64, 10, "softmax")
    tally = Tally()
    model.compile("adam", "sparse_categorical_crossentropy", metrics=[tally])
    seen: dict[str, list] = {"epoch": [], "batch": [], "train_batch": []}
    listener = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: seen["epoch"].append(dict(logs)),
        on_test_batch_end=lambda batch, logs: seen["batch"].append(dict(logs)),
        on_train_batch_end=lambda batch, logs: seen["train_batch"].append(dict(logs)))
    recorder = Recorder()
    history = model.fit(x_train, y_train, epochs=2, batch_size=64, verbose=0,
                        validation_data=(x_val, y_val),
                        callbacks=[listener, EpochEvaluator(tally, sinks=[recorder])])

    exact = recorder.evaluations[-1]
    before = seen["epoch"][-1]
    for key in ("f1", "precision", "recall", "roc_auc"):
        assert before[f"val_{key}"] == pytest.approx(getattr(exact, key), abs=1e-5)
        assert history.history[f"val_{key}"][-1] == getattr(exact, key)
        assert key not in before and key not in seen["train_batch"][-1]
    assert set(seen["train_batch"][-1]) == {"loss"}
    assert all(np.isnan(float(seen["batch"][-1][key])) for key in LOG_KEYS)

    seen["batch"].clear()
    model.evaluate(x_val, y_val, batch_size=64, verbose=0, callbacks=[listener])
    batch_auc = float(seen["batch"][-1]["roc_auc"])
    compiled = keras.backend.backend() != "torch"  # torch runs steps eagerly by default
    assert np.isnan(batch_auc) if compiled else np.isfinite(batch_auc)
    assert float(seen["batch"][-1]["f1"]) == pytest.approx(exact.f1, abs=1e-5)


def test_training_steps_are_left_out_and_the_model_restored(digits):
    """Under the evaluator the tally does not count training batches (an epoch without a
    validation pass leaves it empty); after fit the model's own training step is back, and
    a fit without the evaluator counts every pass again."""
    x_train, y_train, x_val, y_val = digits
    model = small_mlp(64, 10, "softmax")
    tally = Tally()
    model.compile("adam", "sparse_categorical_crossentropy", metrics=[tally])
    rows_at_epoch_end: list[int] = []  # 0 while the tally has not even seen a batch
    listener = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: (
        rows_at_epoch_end.append(tally.counts().n_samples if tally.is_built else 0)))
    with pytest.warns(UserWarning, match="no validation pass ran"):
        model.fit(x_train, y_train, epochs=2, verbose=0, validation_freq=2,
                  validation_data=(x_val, y_val),
                  callbacks=[EpochEvaluator(tally, sinks=[]), listener])
    assert rows_at_epoch_end == [0, len(y_val)]
    assert "train_step" not in vars(model)
    history = model.fit(x_train, y_train, epochs=1, verbose=0)
    assert 0 < history.history["f1"][-1] <= 1  # the tally alone counts training again


def test_count_training_logs_the_training_pass_too(digits):
    x_train, y_train, x_val, y_val = digits
    model = small_mlp(64, 10, "softmax")
    tally = Tally(count_training=True)
    model.compile("adam", "sparse_categorical_crossentropy", metrics=[tally])
    history = model.fit(x_train, y_train, epochs=2, verbose=0, validation_data=(x_val, y_val),
                        callbacks=[EpochEvaluator(tally, sinks=[HistoryLogs()])])
    for key in ("f1", "precision", "recall", "roc_auc"):
        assert 0 < history.history[key][-1] <= 1
    predicted = model.predict(x_val, verbose=0).argmax(axis=1)
    assert history.history["val_f1"][-1] == pytest.approx(
        metrics.f1_score(y_val, predicted, average="macro"), rel=1e-9)


def test_validation_labels_out_of_range_give_an_undefined_epoch(breast_cancer):
    x_train, y_train, x_val, y_val = breast_cancer
    model = small_mlp(30, 1, "sigmoid")
    tally = Tally()
    model.compile("adam", "mse", metrics=[tally])
    recorder = Recorder()
    with pytest.warns(RuntimeWarning, match=r"labels hold values outside 0\.\.1"):
        history = model.fit(x_train, y_train, epochs=1, verbose=0,
                            validation_data=(x_val, 2 * y_val - 1),  # -1 / 1 labels
                            callbacks=[EpochEvaluator(tally, sinks=[recorder])])
    assert recorder.evaluations[-1].undefined_reason is not None
    assert np.isnan(history.history["val_f1"][-1])
