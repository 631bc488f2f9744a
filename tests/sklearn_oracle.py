"""scikit-learn as the oracle for `epoch_eval.evaluate()`: random cases and expected values.

Used by the tests only. A `Case` is one random call of `evaluate()`; `expected()` computes what
scikit-learn's metric functions say about it, one class at a time where the spec does (AUC and
average precision are nan for a class without positives or negatives, and left out of the mean).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
from hypothesis import strategies as st
from scipy.special import expit, softmax
from sklearn import metrics

RTOL = 1e-9
ATOL = 1e-12

# Dyadic weights keep every weighted sum exact, so that scikit-learn's and our summation orders
# cannot disagree about which ROC points are collinear (`drop_intermediate`).
WEIGHT_VALUES = (0.0, 0.5, 1.0, 2.0, 3.0, 0.25)


@dataclass
class Case:
    """One call of `evaluate()` and the plain facts needed to compute its expected values."""

    task: str  # the task the data is, whatever is passed as `task=`
    y_true: np.ndarray
    y_score: np.ndarray
    kwargs: dict = field(default_factory=dict)

    @property
    def sample_weight(self) -> np.ndarray | None:
        return self.kwargs.get("sample_weight")

    @property
    def threshold(self) -> float:
        return self.kwargs.get("threshold", 0.5)

    @property
    def average(self) -> str:
        default = "binary" if self.task == "binary" else "macro"
        return self.kwargs.get("average") or default

    def __repr__(self) -> str:  # what hypothesis prints for a failing example
        return (f"Case(task={self.task!r}, y_true={self.y_true.tolist()!r}, "
                f"y_score=np.array({self.y_score.tolist()!r}, dtype={self.y_score.dtype}), "
                f"kwargs={self.kwargs!r})")


def _scores(rng: np.random.Generator, shape: tuple[int, ...], tied: bool, single: bool,
            logits: bool, simplex: bool) -> np.ndarray:
    if logits:
        values = rng.normal(scale=2.0, size=shape)
        if tied:
            values = np.round(values * 2) / 2
    else:
        values = rng.random(shape)
        if simplex:
            values /= values.sum(axis=-1, keepdims=True)
        if tied:
            values = np.round(values, 1)
    return values.astype(np.float32) if single else values


@st.composite
def cases(draw, task: str) -> Case:
    """A random `evaluate()` call of `task`, in one of the label and score formats it accepts."""
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    n = draw(st.integers(1, 30))
    tied = draw(st.booleans())  # rounded scores: many ties, some equal to the threshold
    single = draw(st.booleans())  # float32 scores, as Keras predicts them
    from_logits = draw(st.booleans())
    kwargs: dict = {}
    if task == "binary":
        score_format = draw(st.sampled_from(["1d", "column", "softmax2"]))
        label_format = draw(st.sampled_from(["1d", "column"] + (
            ["one_hot"] if score_format == "softmax2" else [])))
        labels = (rng.random(n) < draw(st.sampled_from([0.1, 0.5, 0.9]))).astype(int)
        width = 2 if score_format == "softmax2" else 1
        scores = _scores(rng, (n, width), tied, single, from_logits, simplex=width == 2)
        if score_format == "1d":
            scores = scores[:, 0]
        average = draw(st.sampled_from([None, "binary", "micro", "macro", "weighted"]))
        n_classes = 2
    else:
        n_classes = draw(st.integers(2 if task == "multilabel" else 3, 5))
        if task == "multiclass":
            label_format = draw(st.sampled_from(["1d", "column", "one_hot"]))
            labels = rng.integers(0, n_classes, size=n)
        else:
            label_format = "multi_hot"
            labels = (rng.random((n, n_classes)) < draw(st.sampled_from([0.2, 0.5]))).astype(int)
        scores = _scores(rng, (n, n_classes), tied, single, from_logits,
                         simplex=task == "multiclass")
        average = draw(st.sampled_from([None, "micro", "macro", "weighted"]))
    if label_format == "column":
        y_true = labels.reshape(-1, 1)
    elif label_format == "one_hot":
        y_true = np.eye(n_classes, dtype=int)[labels]
    else:
        y_true = labels
    if draw(st.booleans()):
        kwargs["sample_weight"] = rng.choice(WEIGHT_VALUES, size=n)
    if task != "multiclass":
        kwargs["threshold"] = draw(st.sampled_from([0.5, 0.3, 0.7, 0.25]))
    if average is not None:
        kwargs["average"] = average
    if from_logits:
        kwargs["from_logits"] = True
    # Infer the task where the shapes tell it; multi-hot rows that all hold one 1 look one-hot.
    ambiguous = task == "multilabel" and bool((labels.sum(axis=1) == 1).all())
    if ambiguous or draw(st.booleans()):
        kwargs["task"] = task
    if draw(st.booleans()):
        kwargs["class_names"] = [f"class {k}" for k in range(n_classes)]
    return Case(task, y_true, scores, kwargs)


# --- expected values -------------------------------------------------------------------------

def probabilities(case: Case) -> np.ndarray:
    """Scores as `evaluate()` must read them: `(n,)` for binary, `(n, C)` otherwise.

    Logits are turned into probabilities in float64; raw scores keep their dtype, so that the
    threshold is compared as NumPy compares `y_score >= threshold`.
    """
    scores = case.y_score
    logits = case.kwargs.get("from_logits", False)
    if case.task == "binary":
        if scores.ndim == 2 and scores.shape[1] == 2:
            return softmax(scores.astype(np.float64), axis=1)[:, 1] if logits else scores[:, 1]
        scores = scores.reshape(-1)
        return expit(scores.astype(np.float64)) if logits else scores
    if not logits:
        return scores
    if case.task == "multiclass":
        return softmax(scores.astype(np.float64), axis=1)
    return expit(scores.astype(np.float64))


def class_labels(case: Case) -> np.ndarray:
    """`(n,)` class indices (binary, multiclass) or `(n, L)` 0/1 (multilabel)."""
    if case.task == "multilabel":
        return case.y_true
    if case.y_true.ndim == 2 and case.y_true.shape[1] > 1:
        return case.y_true.argmax(axis=1)
    return case.y_true.reshape(-1)


def predictions(case: Case, scores: np.ndarray) -> np.ndarray:
    if case.task == "multiclass":
        return scores.argmax(axis=1)
    return (scores >= case.threshold).astype(int)


def one_vs_rest(case: Case, labels: np.ndarray, scores: np.ndarray):
    """`(truth, score)` per class that gets its own curves (binary: the positive class)."""
    if case.task == "binary":
        return [(labels == 1, scores)]
    if case.task == "multilabel":
        return [(labels[:, k] == 1, scores[:, k]) for k in range(scores.shape[1])]
    return [(labels == k, scores[:, k]) for k in range(scores.shape[1])]


def has_weight(weight: np.ndarray | None, mask: np.ndarray) -> bool:
    return bool(mask.any()) if weight is None else bool(weight[mask].sum() > 0)


def expected(case: Case) -> dict:
    """Every value `evaluate()` must return for `case`, from scikit-learn."""
    scores = probabilities(case)
    labels = class_labels(case)
    predicted = predictions(case, scores)
    weight = case.sample_weight
    n_classes = 2 if case.task == "binary" else scores.shape[1]
    counting = {"sample_weight": weight, "zero_division": 0}
    if case.task != "multilabel":
        counting["labels"] = list(range(n_classes))
    average = case.average
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = {
            name: function(labels, predicted, average=average, **counting)
            for name, function in (("f1", metrics.f1_score),
                                   ("precision", metrics.precision_score),
                                   ("recall", metrics.recall_score))
        }
        out["accuracy"] = metrics.accuracy_score(labels, predicted, sample_weight=weight)
        if case.task == "multilabel":
            out["confusion_matrix"] = metrics.multilabel_confusion_matrix(
                labels, predicted, sample_weight=weight)
        else:
            out["confusion_matrix"] = metrics.confusion_matrix(
                labels, predicted, labels=list(range(n_classes)), sample_weight=weight)
        out["per_class"] = metrics.precision_recall_fscore_support(
            labels, predicted, average=None, **counting)
        roc_aucs, aps, roc_curves, pr_curves = [], [], [], []
        for truth, score in one_vs_rest(case, labels, scores):
            both = has_weight(weight, truth) and has_weight(weight, ~truth)
            roc_aucs.append(metrics.roc_auc_score(truth, score, sample_weight=weight)
                            if both else np.nan)
            aps.append(metrics.average_precision_score(truth, score, sample_weight=weight)
                       if has_weight(weight, truth) else np.nan)
            roc_curves.append(roc_turning_points(truth, score, weight))
            pr_curves.append(metrics.precision_recall_curve(truth, score, sample_weight=weight,
                                                            drop_intermediate=True))
        if case.task != "binary":
            truth = labels if case.task == "multilabel" else np.eye(n_classes)[labels]
            pooled = None if weight is None else np.repeat(weight, n_classes)
            out["roc_micro"] = roc_turning_points(truth.ravel(), scores.ravel(), pooled)
            out["roc_micro_every_point"] = metrics.roc_curve(
                truth.ravel(), scores.ravel(), sample_weight=pooled, drop_intermediate=False)
    out["roc_auc_per_class"] = np.array(roc_aucs)
    out["pr_auc_per_class"] = np.array(aps)
    out["roc_auc"] = _nanmean(roc_aucs)
    out["pr_auc"] = _nanmean(aps)
    out["roc_curves"] = roc_curves
    out["pr_curves"] = pr_curves
    out["n_classes"] = n_classes
    return out


def roc_turning_points(truth: np.ndarray, score: np.ndarray,
                       weight: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """scikit-learn's ROC curve at every threshold (`drop_intermediate=False`) less the points
    where it runs straight on: the steps before and after the point, in scikit-learn's own
    cumulative counts, are collinear (`drop_intermediate=True` leaves out only those between
    equal steps). The first and last thresholds are kept, and the (0, 0) start."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fpr, tpr, thresholds = metrics.roc_curve(truth, score, sample_weight=weight,
                                                 drop_intermediate=False)
        _, fps, _, tps, _ = metrics.confusion_matrix_at_thresholds(truth, score,
                                                                   sample_weight=weight)
    kept = [0]  # the start
    for i in range(len(fps)):
        if 0 < i < len(fps) - 1:
            before = (fps[i] - fps[i - 1], tps[i] - tps[i - 1])
            after = (fps[i + 1] - fps[i], tps[i + 1] - tps[i])
            if before[0] * after[1] == before[1] * after[0]:
                continue
        kept.append(i + 1)  # point i of the counts follows the start
    return fpr[kept], tpr[kept], thresholds[kept]


def _nanmean(values: list[float]) -> float:
    array = np.asarray(values, dtype=np.float64)
    return float(array[~np.isnan(array)].mean()) if (~np.isnan(array)).any() else float("nan")


def assert_close(actual, desired, what: str) -> None:
    np.testing.assert_allclose(np.asarray(actual, dtype=np.float64),
                               np.asarray(desired, dtype=np.float64),
                               rtol=RTOL, atol=ATOL, err_msg=what)


def check_micro_roc(micro, curve, every_point, samples: int) -> None:
    """The micro-average ROC curve: `curve` (`roc_turning_points`) up to `2 * samples`
    distinct pooled scores; beyond, at most `2 * samples + 3` points of `every_point` (the
    curve without dropping) at their thresholds, with the exact AUC, and from one kept point
    to the next scikit-learn's curve rises by at most `1 / samples` in true positive rate and
    moves by at most `1 / samples` in false positive rate, but for a horizontal stretch into
    the next kept point (a straight run of negatives)."""
    fpr, tpr, thresholds = every_point
    if len(fpr) - 1 <= 2 * samples:
        for ours, theirs, name in zip((micro.fpr, micro.tpr, micro.thresholds), curve,
                                      ("fpr", "tpr", "thresholds"), strict=True):
            assert_close(ours, theirs, f"micro ROC {name}")
        return
    assert len(micro.fpr) <= 2 * samples + 3
    assert_close(micro.auc, metrics.auc(fpr, tpr), "micro ROC AUC")
    where = np.searchsorted(-thresholds, -micro.thresholds)
    np.testing.assert_array_equal(thresholds[where], micro.thresholds)
    assert_close(micro.fpr, fpr[where], "micro ROC fpr at the kept points")
    assert_close(micro.tpr, tpr[where], "micro ROC tpr at the kept points")
    last_kept = np.searchsorted(-micro.thresholds, -thresholds, side="right") - 1
    following = np.minimum(last_kept + 1, len(micro.fpr) - 1)
    step = 1 / samples + 1e-12
    assert np.all(tpr - micro.tpr[last_kept] <= step)
    near = fpr - micro.fpr[last_kept] <= step
    into_the_next = np.abs(tpr - micro.tpr[following]) <= 1e-12
    assert np.all(near | into_the_next)
