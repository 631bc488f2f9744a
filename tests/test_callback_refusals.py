"""Mistakes are refused at construction or in on_train_begin, before any training step."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from conftest import mlp

from epoch_eval import EpochEvaluator, HistoryLogs, PngFolder


class CountSteps(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.steps = 0

    def on_train_batch_begin(self, batch, logs=None):
        self.steps += 1


def fit_expecting(error, match, evaluator, data):
    x_train, y_train = data
    model = mlp(64, 10)
    counter = CountSteps()
    with pytest.raises(error, match=match):
        model.fit(x_train, y_train, epochs=2, verbose=0, callbacks=[evaluator, counter])
    assert counter.steps == 0
    assert int(model.optimizer.iterations.numpy()) == 0


def test_labels_outside_the_model_width(digits):
    x_train, y_train, x_val, y_val = digits
    labels = y_val.copy()
    labels[-1] = 12  # the model has 10 outputs
    fit_expecting(ValueError, r"labels outside \[0, 10\).*found \[12\]",
                  EpochEvaluator((x_val, labels)), (x_train, y_train))


def test_one_hot_labels_of_the_wrong_width(digits):
    x_train, y_train, x_val, y_val = digits
    fit_expecting(ValueError, r"does not fit the model.*labels of shape \(450, 12\).*\(450, 10\)",
                  EpochEvaluator((x_val, np.eye(12)[y_val])), (x_train, y_train))


def test_class_names_that_do_not_fit(digits):
    x_train, y_train, x_val, y_val = digits
    fit_expecting(ValueError, "`class_names` must name each of the 10 classes",
                  EpochEvaluator((x_val, y_val), class_names=["a", "b"]), (x_train, y_train))


def test_inputs_the_model_cannot_take(digits):
    x_train, y_train, x_val, y_val = digits
    fit_expecting(ValueError, "incompatible", EpochEvaluator((x_val[:, :10], y_val)),
                  (x_train, y_train))


def test_png_folder_on_a_path_that_is_a_file(digits, tmp_path):
    x_train, y_train, x_val, y_val = digits
    a_file = tmp_path / "charts.png"
    a_file.write_text("not a folder")
    fit_expecting(OSError, "charts.png.*is not a folder",
                  EpochEvaluator((x_val, y_val), sinks=[HistoryLogs(), PngFolder(a_file)]),
                  (x_train, y_train))


def test_png_folder_that_cannot_be_created(digits, tmp_path):
    x_train, y_train, x_val, y_val = digits
    a_file = tmp_path / "file"
    a_file.write_text("")
    fit_expecting(OSError, "cannot write charts to .*file/charts",
                  EpochEvaluator((x_val, y_val), sinks=[PngFolder(a_file / "charts")]),
                  (x_train, y_train))


def test_multi_output_model_without_output(digits):
    x_train, y_train, x_val, y_val = digits
    inputs = keras.Input((64,))
    model = keras.Model(inputs, [keras.layers.Dense(10, activation="softmax", name="a")(inputs),
                                 keras.layers.Dense(10, activation="softmax", name="b")(inputs)])
    model.compile("adam", ["sparse_categorical_crossentropy"] * 2)
    counter = CountSteps()
    with pytest.raises(ValueError, match=r"2 outputs \['a', 'b'\]: pass `output=`"):
        model.fit(x_train, [y_train, y_train], epochs=1, verbose=0,
                  callbacks=[EpochEvaluator((x_val, [y_val, y_val])), counter])
    assert counter.steps == 0


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"every": 0}, "`every` must be a positive integer"),
    ({"threshold": 1.5}, r"0 < threshold < 1. Received: threshold=1.5"),
    ({"task": "regression"}, "Invalid `task`.*'regression'"),
    ({"average": "samples"}, "Invalid `average`.*'samples'"),
    ({"task": "multiclass", "average": "binary"}, "Invalid `average` argument value for task"),
    ({"batch_size": 0}, "`batch_size` must be a positive integer"),
    ({"steps": -1}, "`steps` must be a positive integer"),
    ({"sinks": [PngFolder]}, "Received the class PngFolder"),
    ({"sinks": [print]}, "subclass of epoch_eval.Sink"),
])
def test_bad_arguments_fail_at_construction(digits, kwargs, match):
    _, _, x_val, y_val = digits
    with pytest.raises(ValueError, match=match):
        EpochEvaluator((x_val, y_val), **kwargs)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"charts": ("roc",)}, "Unknown chart name.*Received: 'roc'"),
    ({"charts": ()}, "Invalid `charts`"),
    ({"max_pending": 0}, "`max_pending` must be a positive integer"),
    ({"processes": -1}, "`processes` must be None or a non-negative integer"),
])
def test_bad_png_folder_arguments(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        PngFolder(tmp_path, **kwargs)
