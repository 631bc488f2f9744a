"""The numeric core: labels and scores in, one immutable `Evaluation` out (no Keras, no charts)."""

from epoch_eval.metrics.evaluate import evaluate
from epoch_eval.metrics.result import (
    SCALAR_NAMES,
    ConfusedPair,
    Evaluation,
    PerClassMetrics,
    PrecisionRecallCurve,
    RocCurve,
)

__all__ = [
    "SCALAR_NAMES",
    "ConfusedPair",
    "Evaluation",
    "PerClassMetrics",
    "PrecisionRecallCurve",
    "RocCurve",
    "evaluate",
]
