"""`evaluate()`: exact whole-dataset classification metrics from labels and scores."""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from epoch_eval.metrics import best_threshold, curves, intervals
from epoch_eval.metrics.churn import predicted_labels
from epoch_eval.metrics.counting import CountingMetrics, multilabel_counts, single_label_counts
from epoch_eval.metrics.descending import Workspace
from epoch_eval.metrics.influence import RankInfluence, rank_influence
from epoch_eval.metrics.pooled import PooledCounts
from epoch_eval.metrics.result import (
    Evaluation,
    PerClassMetrics,
    PrecisionRecallCurve,
    RocCurve,
    Task,
    frozen_array,
)
from epoch_eval.metrics.targets import Targets, to_targets

# NumPy's sorts and array loops release the GIL, so the classes are ranked on threads; below
# this many scores, starting them costs more than it saves.
MAX_THREADS = 4
THREADS_FROM_SCORES = 1 << 17


def evaluate(
    y_true: Any,
    y_score: Any,
    *,
    task: str | None = None,
    threshold: float = 0.5,
    average: str | None = None,
    from_logits: bool = False,
    sample_weight: Any = None,
    class_names: Sequence[str] | None = None,
    seed: int = 0,
    confidence: float | None = None,
) -> Evaluation:
    """Compute F1, precision, recall, accuracy, ROC AUC, average precision, the confusion
    matrix and the ROC and precision-recall curves over a whole dataset.

    Values are defined exactly as scikit-learn defines them, with `zero_division=0`.

    Args:
        y_true: binary 0/1 labels `(n,)`/`(n, 1)`; multiclass class indices `(n,)`/`(n, 1)` or
            one-hot `(n, C)`; multilabel multi-hot `(n, L)`.
        y_score: binary positive-class scores `(n,)`/`(n, 1)` or a 2-column softmax `(n, 2)`;
            multiclass and multilabel scores `(n, C)`.
        task: `"binary"`, `"multiclass"`, `"multilabel"`, or None to infer it from the shapes:
            one score column or two means binary, a 2-D `y_true` whose rows are not one-hot
            means multilabel, anything else multiclass.
        threshold: a binary or multilabel score `>= threshold` predicts the positive class.
        average: `"binary"` (binary default), `"micro"`, `"macro"` (multiclass and multilabel
            default) or `"weighted"`, for F1, precision and recall.
        from_logits: apply a sigmoid (one column, multilabel) or a softmax (multiclass,
            2-column binary) to `y_score` first.
        sample_weight: `(n,)` non-negative weights applied to every count.
        class_names: one name per class or label; default `"0"`, `"1"`, ...
        seed: fixes the random halves of the rows behind `f1_at_best_threshold_heldout`.
        confidence: a level such as 0.95 to fill `confidence`, `intervals`,
            `per_class_intervals` and `standard_errors` (closed forms, see
            `epoch_eval.metrics.intervals`); None (default) for none.

    Returns:
        An immutable `Evaluation`.

    Raises:
        ValueError: when the inputs are malformed (mismatched lengths, empty, non-finite
            scores, labels out of range, widths that do not fit, bad arguments).

    Example:
        >>> result = evaluate([0, 1, 1, 0], [0.2, 0.9, 0.4, 0.6])
        >>> round(result.f1, 3), round(result.roc_auc, 3)
        (0.5, 0.75)
    """
    targets = to_targets(
        y_true, y_score, task=task, threshold=threshold, average=average,
        from_logits=from_logits, sample_weight=sample_weight, class_names=class_names,
    )
    return evaluate_targets(targets, seed=seed, confidence=confidence, stacklevel=3)


def evaluate_targets(targets: Targets, *, seed: int = 0, confidence: float | None = None,
                     stacklevel: int = 2) -> Evaluation:
    """`evaluate()` of labels and scores already checked by `to_targets` (the callback keeps
    them between epochs, for churn and paired comparisons); notes are warnings at
    `stacklevel`."""
    level = intervals.check_confidence(confidence)
    predicted = predicted_labels(targets)
    counts = _counting_metrics(targets, predicted)
    roc_micro, roc, pr, best, influences = _ranking_curves(targets,
                                                           with_influences=level is not None)
    evaluation, notes = assemble_evaluation(
        task=targets.task, n_samples=len(targets.labels), class_names=targets.class_names,
        threshold=targets.threshold, average=targets.average, counts=counts,
        confusion_matrix=counts.confusion_matrix, roc=roc, roc_micro=roc_micro, pr=pr,
        best=best_threshold.from_targets(targets, best, seed))
    if notes:
        warnings.warn(" ".join(notes), UserWarning, stacklevel=stacklevel)
    if level is not None:
        evaluation = intervals.predict_intervals(targets, predicted, counts, influences,
                                                 level).apply(evaluation)
    return evaluation


def assemble_evaluation(
    *, task: Task, n_samples: int, class_names: tuple[str, ...], threshold: float,
    average: str, counts: CountingMetrics, confusion_matrix: np.ndarray,
    roc: tuple[RocCurve, ...], roc_micro: RocCurve | None, pr: tuple[PrecisionRecallCurve, ...],
    best: best_threshold.BestThreshold | None = None,
) -> tuple[Evaluation, list[str]]:
    """The `Evaluation` of counted threshold metrics and per-class curves (exact or binned):
    the macro means of their ROC AUC, AP and AUC error bound over the classes where each is
    defined, and the macro ROC curve; `best` fills the best-threshold fields. Also returns the
    notes naming the classes left out."""
    labels = [curve.label for curve in roc]
    roc_auc, roc_note = _mean_defined(labels, [c.auc for c in roc], "roc_auc",
                                      "no positive or no negative sample")
    pr_auc, pr_note = _mean_defined(labels, [c.average_precision for c in pr], "pr_auc",
                                    "no positive sample")
    bound, _ = _mean_defined(labels, [c.auc_error_bound for c in roc], "roc_auc", "")
    evaluation = Evaluation(
        task=task,
        n_samples=n_samples,
        class_names=class_names,
        threshold=threshold,
        average=average,
        f1=counts.average_f1,
        precision=counts.average_precision,
        recall=counts.average_recall,
        accuracy=counts.accuracy,
        roc_auc=roc_auc,
        pr_auc=pr_auc,
        confusion_matrix=frozen_array(confusion_matrix),
        per_class=PerClassMetrics(
            class_names,
            *(frozen_array(v) for v in (counts.precision, counts.recall, counts.f1,
                                        counts.support)),
        ),
        roc_curves=roc,
        roc_micro=roc_micro,
        roc_macro=curves.macro_roc_curve(roc) if task != "binary" else None,
        pr_curves=pr,
        roc_auc_error_bound=bound,
        **(best.fields() if best is not None else {}),
    )
    return evaluation, [note for note in (roc_note, pr_note) if note]


def _counting_metrics(targets: Targets, predicted: np.ndarray) -> CountingMetrics:
    if targets.task == "multilabel":
        return multilabel_counts(targets.labels, predicted, targets.sample_weight,
                                 targets.average)
    return single_label_counts(targets.labels, predicted, targets.n_classes,
                               targets.sample_weight, targets.average)


def _ranking_curves(
    targets: Targets, with_influences: bool = False,
) -> tuple[RocCurve | None, tuple[RocCurve, ...], tuple[PrecisionRecallCurve, ...],
           tuple[tuple[float, float], ...], list[RankInfluence]]:
    """The micro-average ROC curve (None for binary), and each class's ROC and PR curves and
    best threshold and its F1 from one sort per class (binary: the positive class only); with
    influences, also each class's influences on its AUC and AP (for intervals)."""
    weight = targets.sample_weight
    thread = threading.local()  # a workspace per thread, reused from class to class
    pooled = _pooled_counts(targets)

    def class_curves(item: tuple[str, np.ndarray, np.ndarray]):
        name, truth, score = item
        if not hasattr(thread, "workspace"):
            thread.workspace = Workspace()
        part = None
        if weight is None and pooled is not None:
            ascending = np.sort(score)
            counts = curves.count_ranks(score, score[truth], ascending)
            part = pooled.sorted_part(ascending)
        elif weight is None:
            counts = curves.rank(truth, score, None)
        else:
            ranked, kept = curves.weighted_ranking(truth, score, weight, thread.workspace)
            counts = curves.weighted_counts(ranked, kept, score.dtype, squares=with_influences)
            if pooled is not None and ranked is not None:
                part = pooled.part(ranked, kept)  # before the workspace ranks anything else
        influence = rank_influence(counts) if with_influences else None
        return (curves.roc_curve(counts, name), curves.precision_recall_curve(counts, name),
                best_threshold.best_f1(counts), influence, part)

    # The micro average comes first, alone: its sort of the pooled scores is the largest
    # temporary, and running it beside the classes would add the two peaks of memory. With
    # many distinct positive scores it is summed from the classes' rankings instead.
    micro = (_micro_roc_curve(targets) if targets.task != "binary" and pooled is None
             else None)
    classes = list(_one_vs_rest(targets))
    threads = min(MAX_THREADS, os.cpu_count() or 1, len(classes))
    per_class = []
    with ThreadPoolExecutor(threads) as pool:
        one_thread = threads == 1 or targets.scores.size < THREADS_FROM_SCORES
        results = map(class_curves, classes) if one_thread else pool.map(class_curves, classes)
        for *curves_of_class, part in results:  # in class order
            per_class.append(curves_of_class)
            if pooled is not None and part is not None:
                pooled.add(part)
    if pooled is not None:
        micro = pooled.curve("micro")
    influences = [influence for *_, influence in per_class if influence is not None]
    return (micro, tuple(c[0] for c in per_class), tuple(c[1] for c in per_class),
            tuple(c[2] for c in per_class), influences)


def _pooled_counts(targets: Targets) -> PooledCounts | None:
    """The micro average's counts summed class by class, where that is the better way (see
    `pooled.py`); None otherwise."""
    if targets.task == "binary":
        return None
    return PooledCounts.plan(_pooled_truth(targets), targets.scores, targets.sample_weight)


def _one_vs_rest(targets: Targets) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    """Yield `(class name, truth, score)` for each class that gets its own curves."""
    if targets.task == "binary":
        yield targets.class_names[1], targets.labels == 1, targets.scores
        return
    for k, name in enumerate(targets.class_names):
        truth = targets.labels[:, k] if targets.task == "multilabel" else targets.labels == k
        yield name, truth, targets.scores[:, k]


def _micro_roc_curve(targets: Targets) -> RocCurve:
    """ROC over every (sample, class) pair pooled, as scikit-learn's micro average."""
    scores, truth = targets.scores, _pooled_truth(targets)
    if targets.sample_weight is not None:
        return curves.weighted_pooled_roc_curve(truth, scores, targets.sample_weight, "micro")
    return curves.pooled_roc_curve(curves.count_ranks(scores, scores[truth]), "micro")


def _pooled_truth(targets: Targets) -> np.ndarray:
    """`(n, C)` booleans, True where the row belongs to the class."""
    if targets.task == "multilabel":
        return targets.labels
    truth = np.zeros(targets.scores.shape, dtype=bool)
    truth[np.arange(len(targets.labels)), targets.labels] = True
    return truth


def _mean_defined(labels: Sequence[str], values: Sequence[float], metric: str,
                  why: str) -> tuple[float, str | None]:
    """Macro average over the classes where the metric is defined, and a note naming the
    classes left out (None when there are none)."""
    array = np.asarray(values, dtype=np.float64)
    undefined = [label for label, value in zip(labels, array, strict=True) if np.isnan(value)]
    defined = array[~np.isnan(array)]
    mean = float(defined.mean()) if len(defined) else float("nan")
    if not undefined:
        return mean, None
    outcome = "it is nan" if len(undefined) == len(array) else "they are left out of it"
    return mean, (f"{metric} is undefined for {len(undefined)} class(es) with {why} in "
                  f"y_true: {undefined[:20]}; in the average, {outcome}.")
