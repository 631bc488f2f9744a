"""What sinks share about their files and their end: atomic writes, refusing two sinks that
write the same file, and closing every sink whatever one of them raises."""

from __future__ import annotations

import os
import secrets
import warnings
from collections.abc import Iterable
from functools import cache
from pathlib import Path

from epoch_eval.sinks.base import Sink


def write_atomically(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write `data` to `path` so that `path` is never seen half-written.

    The bytes go to a hidden temporary file in the same folder (".{name}.XXXXXXXX.tmp"), are
    flushed to disk, and the file is renamed over `path` (`os.replace`, atomic on POSIX and
    Windows). On any failure (a full disk included) the temporary file is removed and the
    error propagates.

    Raises:
        OSError: when the folder is missing or not writable, or the disk is full.
    """
    target = Path(path)
    temporary = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    descriptor = os.open(temporary, flags, 0o666)
    try:
        with os.fdopen(descriptor, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return target


def check_distinct_outputs(sinks: Iterable[Sink]) -> None:
    """Refuse two sinks whose `output_files()` patterns can name the same file.

    Raises:
        ValueError: naming both sinks and the overlapping paths.
    """
    claimed: list[tuple[Sink, str]] = []
    for sink in sinks:
        for pattern in sink.output_files():
            normal = os.path.normcase(os.path.abspath(pattern))
            for other, other_pattern in claimed:
                if other is not sink and patterns_overlap(normal, other_pattern):
                    raise ValueError(
                        f"Two sinks would write the same files: {type(other).__name__} "
                        f"({other_pattern!r}) and {type(sink).__name__} ({normal!r}). Give "
                        "each its own folder or file name.")
            claimed.append((sink, normal))


def patterns_overlap(first: str, second: str) -> bool:
    """Whether some path matches both patterns, where `*` stands for any run of characters."""

    @cache
    def overlap(i: int, j: int) -> bool:  # do first[i:] and second[j:] overlap?
        if i == len(first) or j == len(second):
            return first[i:].strip("*") == "" and second[j:].strip("*") == ""
        if first[i] == "*":
            return overlap(i + 1, j) or overlap(i, j + 1)
        if second[j] == "*":
            return overlap(i, j + 1) or overlap(i + 1, j)
        return first[i] == second[j] and overlap(i + 1, j + 1)

    return overlap(0, 0)


def close_sinks(sinks: Iterable[Sink]) -> None:
    """Call `close()` on every sink; one that raises is a warning and the others still close."""
    for sink in sinks:
        try:
            sink.close()
        except Exception as error:
            warnings.warn(f"epoch_eval: {type(sink).__name__}.close() failed "
                          f"({type(error).__name__}: {error}); the other sinks were closed "
                          "and training's results are kept.", RuntimeWarning, stacklevel=3)
