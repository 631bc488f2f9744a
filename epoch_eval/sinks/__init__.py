"""Where each evaluated epoch goes: Keras logs, a folder of PNG charts, standard output.

Nothing here imports Keras or TensorFlow; `PngFolder` brings in Matplotlib.
"""

from epoch_eval.sinks.base import ChartRequests, DeliverCharts, DrawNow, EpochResult, Sink
from epoch_eval.sinks.history_logs import HistoryLogs
from epoch_eval.sinks.png_folder import PngFolder
from epoch_eval.sinks.stdout import Stdout

__all__ = [
    "ChartRequests",
    "DeliverCharts",
    "DrawNow",
    "EpochResult",
    "HistoryLogs",
    "PngFolder",
    "Sink",
    "Stdout",
]
