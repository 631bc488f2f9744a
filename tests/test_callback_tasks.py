"""End-to-end fits: History's values equal scikit-learn's on the trained model's predictions."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from conftest import mlp
from scipy.special import softmax
from sklearn import metrics

from epoch_eval import EpochEvaluator, HistoryLogs, PngFolder, Stdout


def test_digits_multiclass_with_all_three_sinks(digits, tmp_path, capsys):
    x_train, y_train, x_val, y_val = digits
    model = mlp(64, 10)
    evaluator = EpochEvaluator((x_val, y_val),
                               sinks=[HistoryLogs(), PngFolder(tmp_path / "charts"), Stdout()])
    history = model.fit(x_train, y_train, epochs=3, verbose=0, callbacks=[evaluator])

    scores = model.predict(x_val, verbose=0)
    predicted = scores.argmax(axis=1)
    assert len(history.history["val_f1"]) == 3
    assert history.history["val_f1"][-1] == pytest.approx(
        metrics.f1_score(y_val, predicted, average="macro"), rel=1e-9)
    assert history.history["val_precision"][-1] == pytest.approx(
        metrics.precision_score(y_val, predicted, average="macro", zero_division=0), rel=1e-9)
    assert history.history["val_roc_auc"][-1] == pytest.approx(
        metrics.roc_auc_score(y_val, scores, multi_class="ovr"), rel=1e-6)
    assert all(isinstance(v, float) for v in history.history["val_f1"])
    files = sorted(p.name for p in (tmp_path / "charts").iterdir())
    assert files == sorted(f"{chart}_epoch_{epoch:03d}.png"
                           for chart in ("confusion_matrix", "roc_curve", "pr_curve")
                           for epoch in (1, 2, 3))
    lines = [line for line in capsys.readouterr().out.splitlines()
             if line.startswith("epoch_eval epoch")]
    assert [line.split(":")[0] for line in lines] == [f"epoch_eval epoch {i}" for i in (1, 2, 3)]
    assert f"f1 {history.history['val_f1'][-1]:.4f}" in lines[-1]


def test_breast_cancer_binary_single_sigmoid(breast_cancer):
    x_train, y_train, x_val, y_val = breast_cancer
    model = mlp(30, 1, activation="sigmoid")
    evaluator = EpochEvaluator((x_val, y_val), threshold=0.5)
    history = model.fit(x_train, y_train, epochs=2, verbose=0, callbacks=[evaluator])

    scores = model.predict(x_val, verbose=0)[:, 0]
    assert history.history["val_f1"][-1] == pytest.approx(
        metrics.f1_score(y_val, scores >= 0.5), rel=1e-9)
    assert history.history["val_recall"][-1] == pytest.approx(
        metrics.recall_score(y_val, scores >= 0.5), rel=1e-9)
    assert history.history["val_roc_auc"][-1] == pytest.approx(
        metrics.roc_auc_score(y_val, scores), rel=1e-9)
    assert history.history["val_pr_auc"][-1] == pytest.approx(
        metrics.average_precision_score(y_val, scores), rel=1e-9)


def test_binary_two_way_softmax_matches_column_one(breast_cancer):
    x_train, y_train, x_val, y_val = breast_cancer
    model = mlp(30, 2)
    evaluator = EpochEvaluator((x_val, y_val))
    model.fit(x_train, y_train, epochs=1, verbose=0, callbacks=[evaluator])
    result = evaluator.evaluate_now()
    scores = model.predict(x_val, verbose=0)[:, 1]
    assert result.task == "binary"
    assert result.f1 == pytest.approx(metrics.f1_score(y_val, scores >= 0.5), rel=1e-9)
    assert result.confusion_matrix.shape == (2, 2)


def test_multilabel_sigmoid_outputs(rng):
    from sklearn.datasets import make_multilabel_classification

    x, y = make_multilabel_classification(n_samples=400, n_features=12, n_classes=4,
                                          random_state=0)
    x = (x / x.max()).astype("float32")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((12,)), keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dense(4, activation="sigmoid")])
    model.compile("adam", "binary_crossentropy")
    evaluator = EpochEvaluator((x[300:], y[300:]), task="multilabel", average="micro",
                               class_names=["a", "b", "c", "d"])
    history = model.fit(x[:300], y[:300], epochs=2, verbose=0, callbacks=[evaluator])
    scores = model.predict(x[300:], verbose=0)
    assert history.history["val_f1"][-1] == pytest.approx(
        metrics.f1_score(y[300:], scores >= 0.5, average="micro"), rel=1e-9)
    assert history.history["val_accuracy"][-1] == pytest.approx(
        metrics.accuracy_score(y[300:], scores >= 0.5), rel=1e-9)
    result = evaluator.evaluate_now()
    assert result.confusion_matrix.shape == (4, 2, 2)
    assert result.class_names == ("a", "b", "c", "d")


def test_logits_are_turned_into_probabilities(digits):
    x_train, y_train, x_val, y_val = digits
    model = mlp(64, 10, activation=None)
    evaluator = EpochEvaluator((x_val, y_val), from_logits=True)
    history = model.fit(x_train, y_train, epochs=2, verbose=0, callbacks=[evaluator])
    probabilities = softmax(model.predict(x_val, verbose=0).astype(np.float64), axis=1)
    assert history.history["val_roc_auc"][-1] == pytest.approx(
        metrics.roc_auc_score(y_val, probabilities, multi_class="ovr"), rel=1e-9)
    assert history.history["val_f1"][-1] == pytest.approx(
        metrics.f1_score(y_val, probabilities.argmax(axis=1), average="macro"), rel=1e-9)


def test_one_hot_labels_and_sample_weights(digits):
    keras.utils.set_random_seed(0)
    x_train, y_train, x_val, y_val = digits
    model = mlp(64, 10)
    weights = np.linspace(0.5, 2.0, len(y_val))
    evaluator = EpochEvaluator((x_val, np.eye(10)[y_val], weights), average="weighted")
    history = model.fit(x_train, y_train, epochs=1, verbose=0, callbacks=[evaluator])
    predicted = model.predict(x_val, verbose=0).argmax(axis=1)
    assert history.history["val_f1"][-1] == pytest.approx(
        metrics.f1_score(y_val, predicted, average="weighted", sample_weight=weights), rel=1e-9)
