"""`PngFolder`: a folder of chart PNGs, one file per chart and epoch."""

from __future__ import annotations

import os
import tempfile
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

from epoch_eval.atomic_file import write_atomically
from epoch_eval.charts.render import CHART_NAMES, check_chart_names
from epoch_eval.sinks.base import EpochResult, Sink


class PngFolder(Sink):
    """Save charts of every evaluated epoch as `{directory}/{chart}_epoch_{NNN}.png`.

    The charts come from `result.charts` (under `EpochEvaluator`, drawn once per epoch on a
    background thread, for every sink that asks), and each file is written atomically (a
    temporary file in the same folder, then a rename; never a stray temporary file, even on a
    full disk). A chart that fails to draw or to be written is a warning, never an error; an
    epoch whose metrics are nan (the model predicted NaN) gets no charts.

    Args:
        directory: the folder; created in `on_train_begin` if missing.
        charts: any of `"confusion_matrix"`, `"roc_curve"`, `"pr_curve"`.
        max_pending: epochs whose charts may wait to be drawn before training waits for them.
        processes: deprecated and ignored (a `DeprecationWarning` says so): charts are no
            longer drawn in child processes.

    Raises:
        ValueError: for an unknown chart name, or a bad `max_pending` or `processes`.
    """

    waits_for_epoch_line: ClassVar[bool] = False  # prints nothing: written at the epoch's end

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
        if processes is not None:
            warnings.warn("PngFolder(processes=...) is deprecated and ignored: charts are drawn "
                          "once per epoch by the evaluator's chart process.",
                          DeprecationWarning, stacklevel=2)
        self.directory = Path(directory)
        self.charts = tuple(dict.fromkeys(charts))
        self.max_pending = max_pending
        self.chart_backlog = max_pending
        self.draws_charts = True
        self._failures: list[str] = []
        self._lock = threading.Lock()

    def path_for(self, chart: str, epoch: int) -> Path:
        """The file of `chart` at the 1-based `epoch`."""
        return self.directory / f"{chart}_epoch_{epoch:03d}.png"

    def output_files(self) -> tuple[str, ...]:
        return tuple(str(self.directory.absolute() / f"{chart}_epoch_*.png")
                     for chart in self.charts)

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
        self._take_failures()

    def write(self, result: EpochResult) -> None:
        self._warn(self._take_failures())
        evaluation = result.evaluation
        if not evaluation.is_defined:
            warnings.warn(f"epoch_eval: no charts for epoch {result.epoch}: "
                          f"{evaluation.undefined_reason}", RuntimeWarning, stacklevel=2)
            return
        epoch = result.epoch
        result.charts.request(self.charts, lambda pngs: self._save(epoch, pngs))

    def close(self) -> None:
        """Report the files that could not be written (the evaluator has delivered every
        chart it could before calling this)."""
        self._warn(self._take_failures())

    def _save(self, epoch: int, pngs: dict[str, bytes]) -> None:
        """Write the delivered charts of `epoch` (may run on the drawing thread)."""
        for chart, png in pngs.items():
            path = self.path_for(chart, epoch)
            try:
                write_atomically(path, png)
            except OSError as error:
                with self._lock:
                    self._failures.append(f"could not write {str(path)!r} "
                                          f"({type(error).__name__}: {error})")

    def _take_failures(self) -> list[str]:
        with self._lock:
            failures, self._failures = self._failures, []
        return failures

    @staticmethod
    def _warn(failures: list[str]) -> None:
        for failure in failures:
            warnings.warn(f"epoch_eval: PngFolder {failure}; training goes on.", RuntimeWarning,
                          stacklevel=3)
