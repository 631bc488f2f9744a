"""`JsonLines`: one JSON object per evaluated epoch, appended; `read_jsonl` reads them back."""

from __future__ import annotations

import json
import os
import threading
import warnings
from pathlib import Path
from typing import IO, Any, ClassVar

from epoch_eval.charts.thinning import thin_evaluation
from epoch_eval.metrics.result import Evaluation
from epoch_eval.sinks.base import EpochResult, Sink
from epoch_eval.sinks.evaluation_json import from_json_value, to_json_value

FORMAT = "epoch_eval.jsonl/1"


class JsonLines(Sink):
    """Append one line of JSON per evaluated epoch to `path`, flushed and fsynced.

    Each line holds `{"format", "epoch", "scalars", "evaluation"}`: the epoch (1-based), the
    headline values, and the whole `Evaluation` (per-class values, confusion matrix, curves
    thinned as the charts thin them, task, class names, sample count, and the intervals,
    churn and best threshold when present: `read_jsonl` gives `intervals` back as a dict of
    `(low, high)` float pairs, nan and inf included). Earlier lines are never
    rewritten, so a run stopped at any point leaves a file whose every complete line parses;
    several runs may append to the same file. Read it back with `epoch_eval.read_jsonl`.

    Args:
        path: the file; its folder is created in `on_train_begin` if missing.
    """

    waits_for_epoch_line: ClassVar[bool] = False  # prints nothing: written at the epoch's end

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._file: IO[str] | None = None
        self._lock = threading.Lock()

    def output_files(self) -> tuple[str, ...]:
        """The file this sink writes."""
        return (str(self.path.absolute()),)

    def open(self) -> None:
        """Open `path` for appending.

        Raises:
            OSError: if the path is a folder, or cannot be created or written.
        """
        if self.path.is_dir():
            raise IsADirectoryError(f"JsonLines: {str(self.path)!r} is a folder; pass the path "
                                    "of a file such as 'run.jsonl'.")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 (kept open)
        if self._file.tell() > 0:
            self._end_partial_line()

    def write(self, result: EpochResult) -> None:
        if self._file is None:
            self.open()
        line = json.dumps(epoch_record(result.epoch, result.evaluation), allow_nan=False,
                          separators=(",", ":"))
        with self._lock:
            assert self._file is not None
            self._file.write(line + "\n")
            self._file.flush()
            os.fsync(self._file.fileno())

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None

    def _end_partial_line(self) -> None:
        """Start on a new line if an earlier run was killed in the middle of one."""
        with open(self.path, "rb") as existing:
            existing.seek(-1, os.SEEK_END)
            if existing.read(1) != b"\n":
                assert self._file is not None
                self._file.write("\n")


def epoch_record(epoch: int, evaluation: Evaluation) -> dict[str, Any]:
    """The JSON object `JsonLines` writes for one epoch."""
    return {
        "format": FORMAT,
        "epoch": epoch,
        "scalars": to_json_value(evaluation.scalars()),
        "evaluation": to_json_value(thin_evaluation(evaluation)),
    }


def read_jsonl(path: str | os.PathLike[str]) -> list[tuple[int, Evaluation]]:
    """The epochs a `JsonLines` sink wrote, as `(epoch, Evaluation)` pairs in file order.

    A line cut short (a run killed while writing it) is skipped, with a warning unless it is
    the last line.

    Raises:
        OSError: if the file cannot be read.
        ValueError: for a JSON line that is not an epoch record, naming the file and line number.
    """
    path = Path(path)
    lines = path.read_text(encoding="utf-8").split("\n")
    epochs = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            if number < len(lines):  # not the unterminated last line of a killed run
                warnings.warn(f"read_jsonl: skipped {path}:{number}, a line cut short by an "
                              f"interrupted run ({error}).", RuntimeWarning, stacklevel=2)
            continue
        if not isinstance(record, dict) or record.get("format") != FORMAT:
            raise ValueError(f"{path}:{number}: not an epoch_eval epoch record (expected "
                             f"'format': {FORMAT!r}).")
        evaluation = from_json_value(record["evaluation"])
        if not isinstance(evaluation, Evaluation):
            raise ValueError(f"{path}:{number}: the 'evaluation' is not an Evaluation.")
        epochs.append((int(record["epoch"]), evaluation))
    return epochs
