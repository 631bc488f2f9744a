"""What sinks share about their files and their end: refusing two sinks that write the same
file, and closing every sink whatever one of them raises (atomic writes: `atomic_file`)."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable
from functools import cache

from epoch_eval.sinks.base import Sink


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
