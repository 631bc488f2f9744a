"""Every kind of validation data gives the result the same data as arrays gives."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from conftest import mlp

from epoch_eval import EpochEvaluator


@pytest.fixture(scope="module")
def trained(digits):
    """A digits model trained a little, and the evaluation of the arrays as the reference."""
    x_train, y_train, x_val, y_val = digits
    model = mlp(64, 10)
    reference = EpochEvaluator((x_val, y_val))
    model.fit(x_train, y_train, epochs=2, verbose=0, callbacks=[reference])
    return model, reference.evaluate_now()


def evaluate_with(model, data, **kwargs):
    evaluator = EpochEvaluator(data, **kwargs)
    evaluator.set_model(model)
    evaluator.on_train_begin()
    return evaluator.evaluate_now()


def assert_same_result(result, reference):
    assert result.n_samples == reference.n_samples
    np.testing.assert_array_equal(result.confusion_matrix, reference.confusion_matrix)
    for name, value in reference.scalars().items():
        assert result.scalars()[name] == pytest.approx(value, rel=1e-9), name


def test_tf_data_that_reshuffles_every_iteration(trained, digits):
    tf = pytest.importorskip("tensorflow")
    model, reference = trained
    _, _, x_val, y_val = digits
    dataset = (tf.data.Dataset.from_tensor_slices((x_val, y_val))
               .shuffle(len(y_val), reshuffle_each_iteration=True).batch(16))
    first = evaluate_with(model, dataset)
    second = evaluate_with(model, dataset)
    assert_same_result(first, reference)
    assert_same_result(second, reference)


def test_torch_data_loader_that_reshuffles_every_iteration(trained, digits):
    torch = pytest.importorskip("torch")
    model, reference = trained
    _, _, x_val, y_val = digits
    torch.manual_seed(0)
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.from_numpy(x_val), torch.from_numpy(y_val)),
        batch_size=16, shuffle=True)
    first = evaluate_with(model, loader)
    second = evaluate_with(model, loader)
    assert_same_result(first, reference)
    assert_same_result(second, reference)
    assert EpochEvaluator(loader).validation_data.kind == "torch DataLoader"


def test_torch_data_loader_over_an_iterable_dataset_is_read_to_its_end(trained, digits):
    torch = pytest.importorskip("torch")
    model, reference = trained
    _, _, x_val, y_val = digits

    class Rows(torch.utils.data.IterableDataset):
        """No length: the loader cannot say how many batches it has."""

        def __iter__(self):
            return iter(zip(torch.from_numpy(x_val), torch.from_numpy(y_val), strict=True))

    assert_same_result(evaluate_with(model, torch.utils.data.DataLoader(Rows(), batch_size=50)),
                       reference)


def test_py_dataset_that_shuffles_at_epoch_end(trained, digits):
    model, reference = trained
    _, _, x_val, y_val = digits

    class Shuffled(keras.utils.PyDataset):
        def __init__(self):
            super().__init__()
            self.order = np.random.default_rng(0).permutation(len(y_val))

        def __len__(self):
            return int(np.ceil(len(y_val) / 20))

        def __getitem__(self, index):
            rows = self.order[index * 20:(index + 1) * 20]
            return x_val[rows], y_val[rows]

        def on_epoch_end(self):
            np.random.default_rng().shuffle(self.order)

    data = Shuffled()
    assert_same_result(evaluate_with(model, data), reference)
    data.on_epoch_end()
    assert_same_result(evaluate_with(model, data), reference)


def test_callable_returning_a_fresh_generator(trained, digits):
    model, reference = trained
    _, _, x_val, y_val = digits

    def batches():
        for start in range(0, len(y_val), 50):
            yield x_val[start:start + 50], y_val[start:start + 50]

    assert_same_result(evaluate_with(model, batches), reference)


def test_steps_limits_the_batches(trained, digits):
    tf = pytest.importorskip("tensorflow")
    model, _ = trained
    _, _, x_val, y_val = digits
    dataset = tf.data.Dataset.from_tensor_slices((x_val, y_val)).batch(10).repeat()
    assert evaluate_with(model, dataset, steps=3).n_samples == 30


def test_a_bare_generator_is_refused_with_a_hint(digits):
    _, _, x_val, y_val = digits
    generator = ((x_val[i:i + 10], y_val[i:i + 10]) for i in range(0, 100, 10))
    with pytest.raises(ValueError, match="single-use generator.*callable"):
        EpochEvaluator(generator)


def test_an_infinite_dataset_without_steps_is_refused(digits):
    tf = pytest.importorskip("tensorflow")
    _, _, x_val, y_val = digits
    dataset = tf.data.Dataset.from_tensor_slices((x_val, y_val)).batch(10).repeat()
    with pytest.raises(ValueError, match="infinite tf.data.Dataset.*steps="):
        EpochEvaluator(dataset)


def test_arrays_of_different_lengths_are_refused(digits):
    _, _, x_val, y_val = digits
    with pytest.raises(ValueError, match=r"same number of rows.*'x': \[450\].*'y': \[449\]"):
        EpochEvaluator((x_val, y_val[:-1]))


def test_other_kinds_are_refused():
    with pytest.raises(ValueError, match="must be an `\\(x, y\\)`.*Received: str"):
        EpochEvaluator("validation.csv")


def test_multi_input_and_multi_output_models(digits):
    x_train, y_train, x_val, y_val = digits
    keras.utils.set_random_seed(0)
    left, right = keras.Input((32,), name="left"), keras.Input((32,), name="right")
    hidden = keras.layers.Dense(16, activation="relu")(keras.layers.Concatenate()([left, right]))
    digit = keras.layers.Dense(10, activation="softmax", name="digit")(hidden)
    is_even = keras.layers.Dense(1, activation="sigmoid", name="even")(hidden)
    model = keras.Model({"left": left, "right": right}, {"digit": digit, "even": is_even})
    model.compile("adam", {"digit": "sparse_categorical_crossentropy",
                           "even": "binary_crossentropy"})

    def split(x):
        return {"left": x[:, :32], "right": x[:, 32:]}

    targets = {"digit": y_val, "even": (y_val % 2 == 0).astype("float32")}
    by_name = EpochEvaluator((split(x_val), targets), output="even")
    by_index = EpochEvaluator((split(x_val), targets), output=0,
                              sinks=[])
    model.fit(split(x_train), {"digit": y_train, "even": (y_train % 2 == 0).astype("float32")},
              epochs=1, verbose=0, callbacks=[by_name, by_index])
    even = by_name.evaluate_now()
    assert even.task == "binary" and even.n_samples == len(y_val)
    scores = model.predict(split(x_val), verbose=0)
    expected = ((scores["even"][:, 0] >= 0.5) == (y_val % 2 == 0)).mean()
    assert even.accuracy == pytest.approx(expected, rel=1e-9)
    selected = model.output_names[0]
    assert by_index.evaluate_now().task == ("multiclass" if selected == "digit" else "binary")


class Digits(keras.utils.PyDataset):
    """Digits in batches of 30, reshuffled at the end of every pass."""

    def __init__(self, x, y, **kwargs):
        super().__init__(**kwargs)
        self.x, self.y = x, y
        self.order = np.arange(len(y))
        self.passes = 0

    def __len__(self):
        return int(np.ceil(len(self.y) / 30))

    def __getitem__(self, index):
        rows = self.order[index * 30:(index + 1) * 30]
        return self.x[rows], self.y[rows]

    def on_epoch_end(self):
        self.passes += 1
        np.random.default_rng(self.passes).shuffle(self.order)


def test_py_dataset_with_worker_threads_does_not_hang(trained, digits):
    import signal

    model, _ = trained
    x_train, y_train, x_val, y_val = digits
    data = Digits(x_val, y_val, workers=2)

    def give_up(signum, frame):
        raise TimeoutError("fit hung on a PyDataset with workers")

    previous = signal.signal(signal.SIGALRM, give_up)
    signal.alarm(120)
    try:
        evaluator = EpochEvaluator(data)
        model.fit(x_train[:64], y_train[:64], epochs=2, verbose=0, callbacks=[evaluator])
        result = evaluator.evaluate_now()
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert_same_result(result, evaluate_with(model, (x_val, y_val)))
    assert data.passes >= 3  # each pass ends like a Keras epoch: the dataset reshuffles


def test_labels_of_every_batch_are_checked_before_training(digits):
    tf = pytest.importorskip("tensorflow")
    x_train, y_train, x_val, y_val = digits
    labels = y_val.copy()
    labels[-1] = 12  # in the last batch only
    dataset = tf.data.Dataset.from_tensor_slices((x_val, labels)).batch(50)
    model = mlp(64, 10)
    with pytest.raises(ValueError, match=r"labels outside \[0, 10\).*found \[12\]"):
        model.fit(x_train, y_train, epochs=1, verbose=0, callbacks=[EpochEvaluator(dataset)])
    assert int(model.optimizer.iterations.numpy()) == 0


def test_task_is_inferred_from_all_labels_not_the_first_batch():
    tf = pytest.importorskip("tensorflow")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 8)).astype("float32")
    y = np.eye(4)[rng.integers(0, 4, 200)]
    y[150:, 0] = 1  # multi-hot rows, only after the first batches
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(4, activation="sigmoid")])
    model.compile("adam", "binary_crossentropy")
    evaluator = EpochEvaluator(tf.data.Dataset.from_tensor_slices((x, y)).batch(50))
    history = model.fit(x, y, epochs=1, verbose=0, callbacks=[evaluator])
    assert evaluator.evaluate_now().task == "multilabel"
    assert not np.isnan(history.history["val_f1"]).any()


def test_evaluate_now_without_a_model_says_what_to_do(digits):
    _, _, x_val, y_val = digits
    with pytest.raises(ValueError, match=r"needs a model.*set_model"):
        EpochEvaluator((x_val, y_val)).evaluate_now()


def test_equal_rows_with_another_problem_are_not_called_a_row_mismatch(digits):
    _, _, x_val, y_val = digits
    with pytest.raises(ValueError) as caught:
        EpochEvaluator((x_val, [y_val, y_val], np.ones((len(y_val), 3, 2))))
    assert "same number of rows" not in str(caught.value)


def test_callable_returning_a_py_dataset_with_workers(trained, digits):
    model, _ = trained
    _, _, x_val, y_val = digits
    made: list[Digits] = []

    def fresh_dataset():
        made.append(Digits(x_val, y_val, workers=2))
        return made[-1]

    result = evaluate_with(model, fresh_dataset)
    assert_same_result(result, evaluate_with(model, (x_val, y_val)))
    assert all(data.passes == 1 for data in made)  # every pass was ended as a Keras epoch


def test_a_tuple_of_the_wrong_length_is_refused(digits):
    _, _, x_val, y_val = digits
    with pytest.raises(ValueError, match="must be an `\\(x, y\\)`.*Received: tuple"):
        EpochEvaluator((x_val, y_val, None, None))
