"""`PngFolder`: a folder of chart PNGs, one file per chart and epoch."""

from __future__ import annotations

import os
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path

from epoch_eval.charts.render import CHART_NAMES, check_chart_names
from epoch_eval.charts.thinning import thin_evaluation
from epoch_eval.sinks.base import EpochResult, Sink
from epoch_eval.sinks.chart_worker import ChartJob, ChartWorker


class PngFolder(Sink):
    """Save charts of every evaluated epoch as `{directory}/{chart}_epoch_{NNN}.png`.

    Charts are drawn off the training thread (in a child process by default) with a bounded
    backlog, each file is written atomically (a temporary file, then a rename), and all files
    are complete when `fit()` returns. A chart that fails to draw is a warning, never an error;
    an epoch whose metrics are nan (the model predicted NaN) gets no charts.

    Args:
        directory: the folder; created in `on_train_begin` if missing.
        charts: any of `"confusion_matrix"`, `"roc_curve"`, `"pr_curve"`.
        max_pending: epochs whose charts may wait to be drawn before training waits for them.
        processes: how many child processes draw, each taking its share of the charts. Separate
            processes never compete with training for Python's GIL. None (the default) uses
            one per chart, as many as the CPU cores that training leaves free (at least one);
            0 draws on a background thread of the training process instead.

    Raises:
        ValueError: for an unknown chart name, or a bad `max_pending` or `processes`.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        charts: Sequence[str] = CHART_NAMES,
        *,
        max_pending: int = 4,
        processes: int | None = None,
    ) -> None:
        charts = check_chart_names((charts,) if isinstance(charts, str) else charts)
        if not charts:
            raise ValueError(f"Invalid `charts` argument value. Expected at least one of "
                             f"{CHART_NAMES}. Received: charts=()")
        if not isinstance(max_pending, int) or max_pending < 1:
            raise ValueError(f"`max_pending` must be a positive integer. "
                             f"Received: max_pending={max_pending!r}")
        if processes is not None and (not isinstance(processes, int) or processes < 0):
            raise ValueError(f"`processes` must be None or a non-negative integer. "
                             f"Received: processes={processes!r}")
        self.directory = Path(directory)
        self.charts = tuple(dict.fromkeys(charts))
        self.max_pending = max_pending
        if processes is None:
            processes = max(1, min(len(self.charts), (os.cpu_count() or 1) - 1))
        self.processes = processes
        self._workers: list[tuple[ChartWorker, tuple[str, ...]]] = []

    def path_for(self, chart: str, epoch: int) -> Path:
        """The file of `chart` at the 1-based `epoch`."""
        return self.directory / f"{chart}_epoch_{epoch:03d}.png"

    def open(self) -> None:
        """Create the folder and check that it can be written to.

        Raises:
            OSError: if the path is a file, or the folder cannot be created or written.
        """
        if self.directory.exists() and not self.directory.is_dir():
            raise NotADirectoryError(f"PngFolder: {str(self.directory)!r} exists and is not a "
                                     "folder; pass the path of a folder for the charts.")
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=self.directory, prefix=".epoch_eval_probe_"):
                pass
        except OSError as error:
            raise OSError(error.errno, f"PngFolder: cannot write charts to "
                          f"{str(self.directory)!r}: {error.strerror or error}") from error
        self.close()
        count = max(1, self.processes)
        self._workers = [
            (ChartWorker(max_pending=self.max_pending, use_process=self.processes > 0),
             self.charts[index::count])
            for index in range(min(count, len(self.charts)))
        ]

    def write(self, result: EpochResult) -> None:
        if not self._workers:
            self.open()
        for worker, _ in self._workers:
            self._warn(worker.take_failures())
        evaluation = result.evaluation
        if not evaluation.is_defined:
            warnings.warn(f"epoch_eval: no charts for epoch {result.epoch}: "
                          f"{evaluation.undefined_reason}", RuntimeWarning, stacklevel=2)
            return
        drawable = thin_evaluation(evaluation)  # the same charts, far less to send
        for worker, charts in self._workers:
            paths = {chart: str(self.path_for(chart, result.epoch)) for chart in charts}
            worker.submit(ChartJob(result.epoch, drawable, paths))

    def close(self) -> None:
        """Wait until every chart is written."""
        workers, self._workers = self._workers, []
        for worker, _ in workers:
            self._warn(worker.close())

    @staticmethod
    def _warn(failures: list[str]) -> None:
        for failure in failures:
            warnings.warn(f"epoch_eval: {failure}; training goes on.", RuntimeWarning,
                          stacklevel=3)
