"""Threshold metrics (precision, recall, F1, accuracy) from one weighted confusion matrix."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CountingMetrics:
    """Everything that counting predicted against true labels gives."""

    confusion_matrix: np.ndarray
    precision: np.ndarray  # per class
    recall: np.ndarray
    f1: np.ndarray
    support: np.ndarray
    average_precision: float  # the averaged precision (not AP, see curves.py)
    average_recall: float
    average_f1: float
    accuracy: float


def single_label_counts(
    labels: np.ndarray, predicted: np.ndarray, n_classes: int, weight: np.ndarray | None,
    average: str,
) -> CountingMetrics:
    """Metrics for binary and multiclass tasks, from `(n,)` true and predicted class indices.

    `average="binary"` reports class 1, as scikit-learn's `pos_label=1` does.
    """
    flat = labels * n_classes + predicted
    matrix = np.bincount(flat, weights=weight, minlength=n_classes * n_classes)
    return from_confusion_matrix(matrix.reshape(n_classes, n_classes), average)


def multilabel_counts(
    labels: np.ndarray, predicted: np.ndarray, weight: np.ndarray | None, average: str
) -> CountingMetrics:
    """Metrics for multilabel tasks, from `(n, L)` boolean true and predicted labels.

    The confusion matrix is `(L, 2, 2)`, `[[tn, fp], [fn, tp]]` per label; accuracy is
    subset accuracy.
    """
    w = np.ones(len(labels)) if weight is None else weight
    # einsum's own loops, not BLAS: OpenBLAS's threads would spin on the other cores for a
    # while after each call, costing far more CPU time than the sum itself
    tp, true_sum, pred_sum = (np.einsum("i,ij->j", w, columns)
                              for columns in (labels & predicted, labels, predicted))
    total = w.sum()
    tn = total - true_sum - pred_sum + tp
    matrix = np.stack([tn, pred_sum - tp, true_sum - tp, tp], axis=1).reshape(-1, 2, 2)
    if weight is None:
        matrix = np.rint(matrix).astype(np.int64)
    exact = (labels == predicted).all(axis=1)
    accuracy = float(np.sum(w, where=exact) / total) if total > 0 else 0.0
    return _with_averages(matrix, tp, pred_sum, true_sum, average, accuracy)


def _with_averages(
    matrix: np.ndarray, tp: np.ndarray, pred_sum: np.ndarray, true_sum: np.ndarray,
    average: str, accuracy: float,
) -> CountingMetrics:
    precision = _divide(tp, pred_sum)
    recall = _divide(tp, true_sum)
    f1 = _divide(2.0 * tp, true_sum + pred_sum)
    if average == "binary":
        averaged = (precision[1], recall[1], f1[1])
    elif average == "micro":
        tp_all, pred_all, true_all = tp.sum(), pred_sum.sum(), true_sum.sum()
        averaged = (
            _divide(tp_all, pred_all), _divide(tp_all, true_all),
            _divide(2.0 * tp_all, true_all + pred_all),
        )
    else:
        weights = true_sum if average == "weighted" and true_sum.sum() > 0 else None
        averaged = tuple(np.average(v, weights=weights) for v in (precision, recall, f1))
    p, r, f = (float(v) for v in averaged)
    return CountingMetrics(matrix, precision, recall, f1, true_sum, p, r, f, accuracy)


def _divide(numerator, denominator):
    """numerator / denominator, with 0 where the denominator is 0 (`zero_division=0`)."""
    numerator = np.asarray(numerator, dtype=np.float64)
    denominator = np.asarray(denominator, dtype=np.float64)
    safe = np.where(denominator == 0, 1.0, denominator)
    return np.where(denominator == 0, 0.0, numerator / safe)


def from_confusion_matrix(matrix: np.ndarray, average: str) -> CountingMetrics:
    """Metrics for binary and multiclass tasks from a weighted `(C, C)` confusion matrix."""
    tp = np.diagonal(matrix).astype(np.float64)
    true_sum = matrix.sum(axis=1, dtype=np.float64)
    pred_sum = matrix.sum(axis=0, dtype=np.float64)
    total = true_sum.sum()
    accuracy = float(tp.sum() / total) if total > 0 else 0.0
    return _with_averages(matrix, tp, pred_sum, true_sum, average, accuracy)


def from_multilabel_matrix(matrix: np.ndarray, subset_accuracy: float,
                           average: str) -> CountingMetrics:
    """Metrics for multilabel tasks from a weighted `(L, 2, 2)` matrix (`[[tn, fp], [fn, tp]]`
    per label) and the subset accuracy, which the matrix cannot give."""
    tp = matrix[:, 1, 1].astype(np.float64)
    true_sum = matrix[:, 1, :].sum(axis=1, dtype=np.float64)
    pred_sum = matrix[:, :, 1].sum(axis=1, dtype=np.float64)
    return _with_averages(matrix, tp, pred_sum, true_sum, average, subset_accuracy)
