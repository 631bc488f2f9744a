"""Honest epochs in a real fit: prediction churn, tally-mode intervals against predict mode's,
the best threshold in History, and `epoch_eval.EarlyStopping`'s three behaviours (no change,
jitter at the noise level, clear gains). Backend-neutral (TensorFlow, JAX, torch)."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from epoch_eval import EarlyStopping, EpochEvaluator, HistoryLogs, Tally, evaluate
from epoch_eval.metrics.result import SCALAR_NAMES


def digits_mlp(seed: int = 0, learning_rate: float = 1e-3,
               metrics: list | None = None) -> keras.Model:
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(32, activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile(keras.optimizers.Adam(learning_rate), "sparse_categorical_crossentropy",
                  metrics=metrics or [])
    return model


class Predictions(keras.callbacks.Callback):
    """Keeps `model.predict(x)` at each epoch's end (listed after the evaluator)."""

    def __init__(self, x: np.ndarray) -> None:
        super().__init__()
        self.x = x
        self.scores: list[np.ndarray] = []

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.scores.append(self.model.predict(self.x, verbose=0, batch_size=256))


# -- churn ----------------------------------------------------------------------------------

def test_churn_counts_the_rows_whose_prediction_changed(digits):
    x_train, y_train, x_val, y_val = digits
    model = digits_mlp()
    predictions = Predictions(x_val)
    history = model.fit(x_train, y_train, epochs=3, batch_size=64, verbose=0, callbacks=[
        EpochEvaluator((x_val, y_val), sinks=[HistoryLogs()]), predictions])
    churn = history.history["val_churn"]
    assert len(churn) == 2  # from the second epoch on
    labels = [scores.argmax(axis=1) for scores in predictions.scores]
    for epoch in (1, 2):
        expected = np.mean(labels[epoch] != labels[epoch - 1])
        assert churn[epoch - 1] == pytest.approx(expected, abs=1.5 / len(y_val))
    assert churn[0] > 0


def test_tally_mode_has_no_churn(digits):
    x_train, y_train, x_val, y_val = digits
    tally = Tally()
    model = digits_mlp(metrics=[tally])
    history = model.fit(x_train, y_train, epochs=2, batch_size=64, verbose=0,
                        validation_data=(x_val, y_val),
                        callbacks=[EpochEvaluator(tally, sinks=[HistoryLogs()])])
    assert "val_churn" not in history.history


# -- intervals --------------------------------------------------------------------------------

class Both(HistoryLogs):
    """Keeps every Evaluation it is handed."""

    def __init__(self, prefix: str) -> None:
        super().__init__(prefix=prefix)
        self.evaluations: list = []

    def write(self, result) -> None:
        self.evaluations.append(result.evaluation)
        super().write(result)


def test_tally_intervals_agree_with_predict_modes(digits):
    """Tally and predict mode score the same weights at each epoch's end: once the model has
    trained a few epochs their intervals agree within 0.01 at each end, and at every epoch
    each end lies as far from its value as predict mode's does (within 0.01)."""
    x_train, y_train, x_val, y_val = digits
    tally = Tally()
    model = digits_mlp(learning_rate=3e-3, metrics=[tally])  # the demo's: trained by epoch 5
    exact, binned = Both("val_exact_"), Both("val_")
    model.fit(x_train, y_train, epochs=5, batch_size=64, verbose=0,
              validation_data=(x_val, y_val),
              callbacks=[EpochEvaluator((x_val, y_val), sinks=[exact]),
                         EpochEvaluator(tally, sinks=[binned])])
    assert len(exact.evaluations) == len(binned.evaluations) == 5
    for epoch, (predict, counted) in enumerate(zip(exact.evaluations, binned.evaluations,
                                                   strict=True), start=1):
        assert predict.confidence == counted.confidence == 0.95
        for name in SCALAR_NAMES:
            (p_low, p_high), (t_low, t_high) = predict.intervals[name], counted.intervals[name]
            p_value, t_value = getattr(predict, name), getattr(counted, name)
            assert t_low <= t_value <= t_high
            assert abs((p_value - p_low) - (t_value - t_low)) <= 0.01, (epoch, name)
            assert abs((p_high - p_value) - (t_high - t_value)) <= 0.01, (epoch, name)
            if epoch == 5:
                assert abs(p_low - t_low) <= 0.01 and abs(p_high - t_high) <= 0.01, name


def test_history_gets_interval_keys_and_the_best_threshold(breast_cancer):
    x_train, y_train, x_val, y_val = breast_cancer
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((30,)), keras.layers.Dense(8, activation="relu"),
                              keras.layers.Dense(1, activation="sigmoid")])
    model.compile("adam", "binary_crossentropy")
    history = model.fit(x_train, y_train, epochs=2, verbose=0, callbacks=[
        EpochEvaluator((x_val, y_val), sinks=[HistoryLogs(intervals=True)])])
    logs = {key: values[-1] for key, values in history.history.items()}
    scores = model.predict(x_val, verbose=0)
    expected = evaluate(y_val, scores, confidence=0.95)
    for name in SCALAR_NAMES:
        low, high = expected.intervals[name]
        assert logs[f"val_{name}_low"] == pytest.approx(low, rel=1e-9)
        assert logs[f"val_{name}_high"] == pytest.approx(high, rel=1e-9)
        assert logs[f"val_{name}_low"] <= logs[f"val_{name}"] <= logs[f"val_{name}_high"]
    assert logs["val_best_threshold"] == pytest.approx(expected.best_threshold, rel=1e-6)
    assert logs["val_f1_at_best_threshold"] == pytest.approx(expected.f1_at_best_threshold,
                                                            rel=1e-9)
    assert logs["val_f1_at_best_threshold"] >= logs["val_f1"]


def test_confidence_none_turns_intervals_off(digits):
    x_train, y_train, x_val, y_val = digits
    evaluator = EpochEvaluator((x_val, y_val), sinks=[HistoryLogs(intervals=True)],
                               confidence=None)
    history = digits_mlp().fit(x_train, y_train, epochs=1, verbose=0, callbacks=[evaluator])
    assert "val_f1_low" not in history.history
    assert evaluator.latest.evaluation.intervals is None


# -- EarlyStopping ----------------------------------------------------------------------------

def test_bad_settings_are_refused_before_training(digits):
    x_train, y_train, x_val, y_val = digits
    evaluator = EpochEvaluator((x_val, y_val))
    with pytest.raises(ValueError, match=r"monitor.*Received: monitor='val_loss'"):
        EarlyStopping(evaluator, monitor="val_loss")
    with pytest.raises(ValueError, match="confidence"):
        EarlyStopping(evaluator, confidence=1.5)
    model = digits_mlp()
    steps: list[int] = []
    count = keras.callbacks.LambdaCallback(on_train_batch_begin=lambda b, logs: steps.append(b))
    for callbacks in ([EarlyStopping(evaluator), count],  # the evaluator is not in the fit
                      [EarlyStopping(evaluator), evaluator, count]):  # listed after it
        with pytest.raises(ValueError, match="not in this fit, or is listed after it"):
            model.fit(x_train, y_train, epochs=1, verbose=0, callbacks=callbacks)
    assert steps == []


@pytest.mark.parametrize("mode", ["predict", "tally"])
def test_stops_exactly_patience_epochs_after_the_last_gain_when_nothing_changes(digits, mode):
    x_train, y_train, x_val, y_val = digits
    tally = Tally()
    model = digits_mlp(learning_rate=0.0, metrics=[tally] if mode == "tally" else [])
    evaluator = EpochEvaluator(tally if mode == "tally" else (x_val, y_val))
    stopper = EarlyStopping(evaluator, monitor="f1", patience=3)
    history = model.fit(x_train, y_train, epochs=20, batch_size=64, verbose=0,
                        validation_data=(x_val, y_val) if mode == "tally" else None,
                        callbacks=[evaluator, stopper])
    assert len(history.history["val_f1"]) == 4  # the first epoch, then 3 without a gain
    assert stopper.best_epoch == 0 and stopper.stopped_epoch == 3
    assert model.stop_training


class Jitter(keras.callbacks.Callback):
    """Each epoch, sets the weights to fixed ones plus fresh noise at the validation set's
    noise level: no real gain, but the value moves up and down."""

    def __init__(self, scale: float, seed: int = 0) -> None:
        super().__init__()
        self.scale = scale
        self.rng = np.random.default_rng(seed)
        self.base: list[np.ndarray] | None = None

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        if self.base is None:
            self.base = [np.array(w) for w in self.model.get_weights()]
        self.model.set_weights([w + self.scale * self.rng.standard_normal(w.shape)
                                .astype(w.dtype) for w in self.base])


def test_jitter_at_the_noise_level_stops_within_patience_plus_two(digits):
    """Weights that move each epoch by a few rows' worth of predictions (about 1% churn): the
    value goes up and down, which keeps resetting Keras' own EarlyStopping, but no gain is
    beyond the noise of 450 rows."""
    x_train, y_train, x_val, y_val = digits
    model = digits_mlp(learning_rate=3e-3)
    model.fit(x_train, y_train, epochs=3, batch_size=64, verbose=0)  # a model that predicts
    model.compile(keras.optimizers.SGD(0.0), "sparse_categorical_crossentropy")
    evaluator = EpochEvaluator((x_val, y_val))
    stopper = EarlyStopping(evaluator, monitor="f1", patience=3)
    history = model.fit(x_train, y_train, epochs=30, batch_size=64, verbose=0,
                        callbacks=[Jitter(scale=0.005), evaluator, stopper])
    assert max(history.history["val_churn"]) > 0  # the predictions do move
    assert len(history.history["val_f1"]) <= 1 + 3 + 2  # within patience + 2 epochs


def test_does_not_stop_while_the_model_gains_clearly(digits):
    x_train, y_train, x_val, y_val = digits
    model = digits_mlp(learning_rate=3e-4)  # from scratch, slowly: a clear gain every epoch
    evaluator = EpochEvaluator((x_val, y_val))
    stopper = EarlyStopping(evaluator, monitor="f1", patience=2)
    history = model.fit(x_train, y_train, epochs=8, batch_size=64, verbose=0,
                        callbacks=[evaluator, stopper])
    f1 = history.history["val_f1"]
    assert len(f1) == 8 and stopper.stopped_epoch == 0
    assert f1[-1] - f1[0] > 0.2


def test_verbose_says_when_it_stops_and_restores(digits, capsys):
    x_train, y_train, x_val, y_val = digits
    evaluator = EpochEvaluator((x_val, y_val))
    stopper = EarlyStopping(evaluator, patience=1, restore_best_weights=True, verbose=1)
    digits_mlp(learning_rate=0.0).fit(x_train, y_train, epochs=5, verbose=0,
                                      callbacks=[evaluator, stopper])
    out = capsys.readouterr().out
    assert "Epoch 2: early stopping (no significant gain in f1 for 1 epochs)" in out
    assert "Restoring model weights from the end of the best epoch: 1." in out


def test_restores_the_best_epochs_weights(digits):
    x_train, y_train, x_val, y_val = digits
    model = digits_mlp(learning_rate=0.0)
    evaluator = EpochEvaluator((x_val, y_val))
    weights: list[list[np.ndarray]] = []
    keep = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: weights.append(model.get_weights()))
    stopper = EarlyStopping(evaluator, patience=1, restore_best_weights=True)
    model.fit(x_train, y_train, epochs=10, batch_size=64, verbose=0,
              callbacks=[Jitter(scale=0.05, seed=1), evaluator, keep, stopper])
    assert stopper.stopped_epoch > 0
    for restored, kept in zip(model.get_weights(), weights[stopper.best_epoch], strict=True):
        np.testing.assert_array_equal(restored, kept)


def reshuffled(x: np.ndarray, y: np.ndarray, batch: int = 64):
    """Validation data as a callable whose every pass comes in another order."""
    rng = np.random.default_rng(0)

    def batches():
        order = rng.permutation(len(y))
        return [(x[order[i:i + batch]], y[order[i:i + batch]])
                for i in range(0, len(y), batch)]

    return batches


def test_rows_in_another_order_give_no_churn_and_an_unpaired_stopper(digits):
    """Churn needs each row matched with itself: None, with one warning; the stopper falls
    back to the unpaired test, with one warning, and still stops when nothing changes."""
    x_train, y_train, x_val, y_val = digits
    model = digits_mlp(learning_rate=0.0)
    evaluator = EpochEvaluator(reshuffled(x_val, y_val), sinks=[HistoryLogs()])
    stopper = EarlyStopping(evaluator, patience=2)
    with pytest.warns(UserWarning) as caught:
        history = model.fit(x_train, y_train, epochs=10, batch_size=64, verbose=0,
                            callbacks=[evaluator, stopper])
    messages = [str(w.message) for w in caught]
    assert sum("churn is None" in m for m in messages) == 1
    assert sum("compared unpaired" in m for m in messages) == 1
    assert "val_churn" not in history.history
    assert evaluator.latest.evaluation.churn is None
    assert len(history.history["val_f1"]) == 3 and stopper.stopped_epoch == 2
