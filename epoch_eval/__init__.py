"""epoch_eval: honest whole-validation-set metrics and charts at every Keras epoch.

`evaluate` and the result types import NumPy and SciPy only; the Keras callback and the sinks
are loaded on first use, so `import epoch_eval` stays light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from epoch_eval.metrics import (
    Evaluation,
    PerClassMetrics,
    PrecisionRecallCurve,
    RocCurve,
    evaluate,
)
from epoch_eval.metrics.result import set_html_view

if TYPE_CHECKING:
    from epoch_eval.callback.early_stopping import EarlyStopping
    from epoch_eval.callback.epoch_evaluator import EpochEvaluator
    from epoch_eval.callback.sharding import shard
    from epoch_eval.callback.tally import Tally
    from epoch_eval.sinks.base import EpochResult, Sink
    from epoch_eval.sinks.history_logs import HistoryLogs
    from epoch_eval.sinks.html_report import HtmlReport
    from epoch_eval.sinks.json_lines import JsonLines, read_jsonl
    from epoch_eval.sinks.mlflow_logs import MlflowLogs
    from epoch_eval.sinks.notebook import Notebook
    from epoch_eval.sinks.png_folder import PngFolder
    from epoch_eval.sinks.stdout import Stdout
    from epoch_eval.sinks.tensorboard_logs import TensorBoardLogs

__version__ = "0.1.0"

_LAZY = {
    "EarlyStopping": "epoch_eval.callback.early_stopping",
    "EpochEvaluator": "epoch_eval.callback.epoch_evaluator",
    "EpochResult": "epoch_eval.sinks.base",
    "Sink": "epoch_eval.sinks.base",
    "HistoryLogs": "epoch_eval.sinks.history_logs",
    "HtmlReport": "epoch_eval.sinks.html_report",
    "JsonLines": "epoch_eval.sinks.json_lines",
    "read_jsonl": "epoch_eval.sinks.json_lines",
    "Notebook": "epoch_eval.sinks.notebook",
    "MlflowLogs": "epoch_eval.sinks.mlflow_logs",
    "PngFolder": "epoch_eval.sinks.png_folder",
    "Stdout": "epoch_eval.sinks.stdout",
    "Tally": "epoch_eval.callback.tally",
    "shard": "epoch_eval.callback.sharding",
    "TensorBoardLogs": "epoch_eval.sinks.tensorboard_logs",
}

__all__ = [
    "EarlyStopping",
    "EpochEvaluator",
    "EpochResult",
    "Evaluation",
    "HistoryLogs",
    "HtmlReport",
    "JsonLines",
    "MlflowLogs",
    "Notebook",
    "PerClassMetrics",
    "PngFolder",
    "PrecisionRecallCurve",
    "RocCurve",
    "Sink",
    "Stdout",
    "Tally",
    "TensorBoardLogs",
    "evaluate",
    "read_jsonl",
    "shard",
]


def _evaluation_html(evaluation: Evaluation) -> str:
    """`Evaluation._repr_html_`: the HTML view of the sinks' layer, imported on first use
    (it draws charts with Matplotlib). Wired here, at the top, so that `metrics` imports
    nothing above it."""
    from epoch_eval.sinks.notebook_html import evaluation_html

    return evaluation_html(evaluation)


set_html_view(_evaluation_html)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'epoch_eval' has no attribute {name!r}")
