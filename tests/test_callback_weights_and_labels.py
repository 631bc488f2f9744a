"""Sample weights reach the metrics exactly as the caller passed them, for every kind of
validation data, and labels that cannot be evaluated are refused with the batch named."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from conftest import mlp
from sklearn import metrics

from epoch_eval import EpochEvaluator
from epoch_eval.callback.validation_data import ValidationData


def float64_weights(n: int) -> np.ndarray:
    """Weights that float32 cannot hold exactly."""
    return np.random.default_rng(7).uniform(0.5, 2.0, n)


class Batches(keras.utils.PyDataset):
    def __init__(self, x, y, weight, batch_size=32):
        super().__init__()
        self.x, self.y, self.weight, self.batch_size = x, y, weight, batch_size

    def __len__(self):
        return -(-len(self.x) // self.batch_size)

    def __getitem__(self, index):
        rows = slice(index * self.batch_size, (index + 1) * self.batch_size)
        return self.x[rows], self.y[rows], self.weight[rows]


def plain_batches(x, y, weight, batch_size=32):
    return [(x[i:i + batch_size], y[i:i + batch_size], weight[i:i + batch_size])
            for i in range(0, len(x), batch_size)]


def kinds_of_data(x, y, weight):
    """Every kind of validation data that needs no TensorFlow, holding the same rows."""
    return {
        "arrays": (x, y, weight),
        "PyDataset": Batches(x, y, weight),
        "callable": lambda: plain_batches(x, y, weight),
    }


@pytest.mark.parametrize("kind", ["arrays", "PyDataset", "callable", "tf.data"])
def test_batches_carry_the_callers_float64_weights_unchanged(digits, kind):
    _, _, x_val, y_val = digits
    weight = float64_weights(len(y_val))
    if kind == "tf.data":
        tf = pytest.importorskip("tensorflow")
        data = tf.data.Dataset.from_tensor_slices((x_val, y_val, weight)).batch(32)
    else:
        data = kinds_of_data(x_val, y_val, weight)[kind]
    seen = [w for _, _, w in ValidationData(data).batches()]
    joined = np.concatenate(seen)
    assert joined.dtype == np.float64
    np.testing.assert_array_equal(joined, weight)


def test_array_weights_per_output_are_the_callers_own(digits):
    _, _, x_val, y_val = digits
    weights = {"digit": float64_weights(len(y_val)), "even": np.ones(len(y_val))}
    labels = {"digit": y_val, "even": (y_val % 2 == 0).astype("float32")}
    seen = [w for _, _, w in ValidationData((x_val, labels, weights), batch_size=50).batches()]
    np.testing.assert_array_equal(np.concatenate([w["digit"] for w in seen]), weights["digit"])


@pytest.mark.parametrize("kind", ["arrays", "PyDataset", "callable"])
def test_weighted_metrics_equal_sklearn_on_the_callers_weights(digits, kind):
    keras.utils.set_random_seed(0)
    x_train, y_train, x_val, y_val = digits
    weight = float64_weights(len(y_val))
    model = mlp(64, 10)
    evaluator = EpochEvaluator(kinds_of_data(x_val, y_val, weight)[kind], average="weighted")
    history = model.fit(x_train, y_train, epochs=1, verbose=0, callbacks=[evaluator])
    scores = np.concatenate([model.predict_on_batch(x_val[i:i + 32])
                             for i in range(0, len(x_val), 32)])
    assert history.history["val_f1"][-1] == pytest.approx(metrics.f1_score(
        y_val, scores.argmax(axis=1), average="weighted", sample_weight=weight), rel=1e-9)
    assert history.history["val_roc_auc"][-1] == pytest.approx(metrics.roc_auc_score(
        y_val, scores, multi_class="ovr", sample_weight=weight), rel=1e-9)


def test_sample_weights_per_output(digits):
    keras.utils.set_random_seed(0)
    x_train, y_train, x_val, y_val = digits
    inputs = keras.Input((64,))
    model = keras.Model(inputs, {
        "digit": keras.layers.Dense(10, activation="softmax", name="digit")(inputs),
        "even": keras.layers.Dense(1, activation="sigmoid", name="even")(inputs)})
    model.compile("adam", {"digit": "sparse_categorical_crossentropy",
                           "even": "binary_crossentropy"})
    even = (y_val % 2 == 0).astype("float32")
    weights = {"digit": np.linspace(0.5, 2, len(y_val)), "even": np.ones(len(y_val))}
    evaluator = EpochEvaluator((x_val, {"digit": y_val, "even": even}, weights),
                               output="digit", average="weighted")
    model.fit(x_train, {"digit": y_train, "even": (y_train % 2 == 0).astype("float32")},
              epochs=1, verbose=0, callbacks=[evaluator])
    predicted = model.predict(x_val, verbose=0)["digit"].argmax(axis=1)
    assert evaluator.evaluate_now().f1 == pytest.approx(metrics.f1_score(
        y_val, predicted, average="weighted", sample_weight=weights["digit"]), rel=1e-9)


def test_string_labels_in_arrays_are_refused_naming_the_labels(digits):
    _, _, x_val, y_val = digits
    names = np.array(["zero", "one", "two"])[y_val % 3]
    with pytest.raises(ValueError, match=r"labels `y` of `validation_data` must be numbers.*"
                                         r"dtype <U4.*'\w+'"):
        EpochEvaluator((x_val, names))


def test_string_labels_in_one_batch_are_refused_naming_the_batch(digits):
    _, _, x_val, y_val = digits
    batches = plain_batches(x_val, y_val, np.ones(len(y_val)))
    x, y, w = batches[2]
    batches[2] = (x, y.astype(str), w)
    model = mlp(64, 10)
    evaluator = EpochEvaluator(lambda: batches)
    with pytest.raises(ValueError, match="labels of validation batch 2 are not numbers"):
        model.fit(x_val[:32], y_val[:32], epochs=1, verbose=0, callbacks=[evaluator])


def test_one_one_hot_batch_among_sparse_ones_is_refused_naming_the_batch(digits):
    _, _, x_val, y_val = digits
    batches = plain_batches(x_val, y_val, np.ones(len(y_val)))
    x, y, w = batches[3]
    batches[3] = (x, np.eye(10)[y], w)
    model = mlp(64, 10)
    evaluator = EpochEvaluator(lambda: batches)
    with pytest.raises(ValueError, match=r"labels of validation batch 3 have shape \(32, 10\), "
                                         r"but those of batch 0 have shape \(32,\).*\(rows,\)"):
        model.fit(x_val[:32], y_val[:32], epochs=1, verbose=0, callbacks=[evaluator])
    assert int(keras.ops.convert_to_numpy(model.optimizer.iterations)) == 0  # before training
