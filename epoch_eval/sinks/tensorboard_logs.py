"""`TensorBoardLogs`: scalars and chart images beside Keras' own TensorBoard run."""

from __future__ import annotations

import io
import itertools
import os
import re
import socket
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from epoch_eval.charts.render import CHART_NAMES, check_chart_names
from epoch_eval.metrics.result import Evaluation
from epoch_eval.sinks.base import EpochResult, Sink
from epoch_eval.sinks.tensorboard_crc import speed_up_record_checksums

INSTALL_HINT = "pip install 'epoch-eval[tensorboard]'"


class TensorBoardLogs(Sink):
    """Write each evaluated epoch's values and charts where `keras.callbacks.TensorBoard` puts
    its validation values: `{log_dir}/validation`, tags `epoch_f1`, `epoch_precision`, ...,
    step = the 0-based epoch, so `val_loss` and `f1` share one TensorBoard page.

    Written with the `tensorboard` package's own record writer and protos (no TensorFlow
    needed, so it works on every Keras backend), each epoch's records appended to the event
    file and the file closed again: no writer thread, and nothing left open after an
    interrupted `fit`. Images are tagged `epoch_<chart>`.
    When the evaluation has them, each value's interval is written as `epoch_<name>_low` and
    `epoch_<name>_high`, churn as `epoch_churn`, and a binary task's best threshold as
    `epoch_best_threshold`, `epoch_f1_at_best_threshold` (and
    `epoch_f1_at_best_threshold_heldout` when present).
    With `google-crc32c` installed (the `tensorboard` extra has it), the records' checksums are
    computed in C instead of `tensorboard`'s pure Python (see `tensorboard_crc`).

    Args:
        log_dir: the same folder as given to `keras.callbacks.TensorBoard`.
        charts: any of `"confusion_matrix"`, `"roc_curve"`, `"pr_curve"`; `()` for none.
        per_class: also write `epoch_f1/<class>`, `epoch_precision/<class>`,
            `epoch_recall/<class>`.

    Raises:
        ImportError: if the `tensorboard` package is not installed (the `tensorboard` extra).
        ValueError: for an unknown chart name.
    """

    waits_for_epoch_line: ClassVar[bool] = False  # prints nothing: written at the epoch's end

    def __init__(
        self,
        log_dir: str | os.PathLike[str],
        charts: Sequence[str] = CHART_NAMES,
        *,
        per_class: bool = False,
    ) -> None:
        try:
            from tensorboard.summary.writer.record_writer import RecordWriter  # noqa: F401
        except ImportError as error:
            raise ImportError(f"TensorBoardLogs needs the `tensorboard` package: "
                              f"{INSTALL_HINT}") from error
        self.charts = tuple(dict.fromkeys(check_chart_names(
            (charts,) if isinstance(charts, str) else charts)))
        self.draws_charts = bool(self.charts)
        self.log_dir = Path(log_dir)
        self.per_class = per_class
        self._events: Path | None = None  # the event file, while open
        self._lock = threading.Lock()
        self._told = False

    @property
    def run_dir(self) -> Path:
        """The run folder, shared with Keras' validation values."""
        return self.log_dir / "validation"

    def output_files(self) -> tuple[str, ...]:
        """The event files this sink writes (another writer may share the folder)."""
        return (str(self.run_dir.absolute() / "events.out.tfevents.*.epoch_eval"),)

    def open(self) -> None:
        """Create the run folder and its event file.

        Raises:
            OSError: if the folder cannot be created or written.
        """
        from tensorboard.compat.proto.event_pb2 import Event, SourceMetadata

        if self.log_dir.exists() and not self.log_dir.is_dir():
            raise NotADirectoryError(f"TensorBoardLogs: {str(self.log_dir)!r} exists and is "
                                     "not a folder; pass the log folder of the run.")
        self.close()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        speed_up_record_checksums()
        # named as tensorboard's EventFileWriter names its files
        name = (f"events.out.tfevents.{int(time.time()):010d}.{socket.gethostname()}."
                f"{os.getpid()}.{next(_FILE_NUMBERS)}.epoch_eval")
        with self._lock:
            self._events = self.run_dir / name
            self._append(Event(wall_time=time.time(), file_version="brain.Event:2",
                               source_metadata=SourceMetadata(writer="epoch_eval")))
        self._told = False

    def write(self, result: EpochResult) -> None:
        from tensorboard.compat.proto.summary_pb2 import Summary

        if self._events is None:
            self.open()
        step = result.epoch - 1  # Keras' TensorBoard callback counts epochs from 0
        values = [Summary.Value(tag=f"epoch_{name}", simple_value=value)
                  for name, value in _scalars(result.evaluation).items()]
        if self.per_class:
            per_class = result.evaluation.per_class
            for i, label in enumerate(per_class.names):
                safe = _tag_safe(label)
                for name in ("precision", "recall", "f1"):
                    values.append(Summary.Value(tag=f"epoch_{name}/{safe}",
                                                simple_value=float(getattr(per_class, name)[i])))
        self._add(Summary(value=values), step)
        if self.charts:
            result.charts.request(self.charts, lambda pngs: self._add_images(pngs, step))
        if not self._told:
            self._told = True
            print(f"epoch_eval: TensorBoard keeps 10 images per chart by default; to see every "
                  f"epoch's charts run: tensorboard --logdir {self.log_dir} "
                  f"--samples_per_plugin images=1000", file=sys.stderr)

    def close(self) -> None:
        with self._lock:
            self._events = None

    def _add_images(self, pngs: dict[str, bytes], step: int) -> None:
        from PIL import Image
        from tensorboard.compat.proto.summary_pb2 import Summary

        values = []
        for name, png in pngs.items():
            with Image.open(io.BytesIO(png)) as image:
                width, height = image.size
            values.append(Summary.Value(tag=f"epoch_{name}", image=Summary.Image(
                height=height, width=width, colorspace=4, encoded_image_string=png)))
        if values:
            self._add(Summary(value=values), step)

    def _add(self, summary: Any, step: int) -> None:
        from tensorboard.compat.proto.event_pb2 import Event

        with self._lock:
            if self._events is None:  # closed meanwhile: nothing to write to
                return
            self._append(Event(wall_time=time.time(), step=step, summary=summary))

    def _append(self, event: Any) -> None:
        """Append one record to the event file and close it again (lock held)."""
        from tensorboard.summary.writer.record_writer import RecordWriter

        assert self._events is not None
        with open(self._events, "ab") as file:
            RecordWriter(file).write(event.SerializeToString())


_FILE_NUMBERS = itertools.count()
"""Tells apart two event files of one process opened in the same second."""


def _scalars(evaluation: Evaluation) -> dict[str, float]:
    """The headline values, then the intervals' bounds, churn and a binary best threshold
    where the evaluation has them, by tag name without `epoch_`."""
    values = evaluation.scalars()
    for name, (low, high) in (evaluation.intervals or {}).items():
        values[f"{name}_low"], values[f"{name}_high"] = float(low), float(high)
    if evaluation.churn is not None:
        values["churn"] = float(evaluation.churn)
    if evaluation.task == "binary":
        for name in ("best_threshold", "f1_at_best_threshold", "f1_at_best_threshold_heldout"):
            value = getattr(evaluation, name)
            if value is not None:
                values[name] = float(value)
    return values


def _tag_safe(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.\-]", "_", label)

