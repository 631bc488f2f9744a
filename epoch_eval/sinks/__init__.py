"""Where each evaluated epoch goes: Keras logs, a folder of PNG charts, standard output,
TensorBoard, an HTML page, a JSON Lines file, a notebook, an MLflow run.

Nothing here imports Keras or TensorFlow; `PngFolder` brings in Matplotlib; `Notebook` needs
IPython when it is constructed, not when it is imported.
"""

from epoch_eval.sinks.base import ChartRequests, DeliverCharts, DrawNow, EpochResult, Sink
from epoch_eval.sinks.history_logs import HistoryLogs
from epoch_eval.sinks.html_report import HtmlReport
from epoch_eval.sinks.json_lines import JsonLines, read_jsonl
from epoch_eval.sinks.mlflow_logs import MlflowLogs
from epoch_eval.sinks.notebook import Notebook
from epoch_eval.sinks.png_folder import PngFolder
from epoch_eval.sinks.stdout import Stdout
from epoch_eval.sinks.tensorboard_logs import TensorBoardLogs

__all__ = [
    "ChartRequests",
    "DeliverCharts",
    "DrawNow",
    "EpochResult",
    "HistoryLogs",
    "HtmlReport",
    "JsonLines",
    "MlflowLogs",
    "Notebook",
    "PngFolder",
    "Sink",
    "Stdout",
    "TensorBoardLogs",
    "read_jsonl",
]
