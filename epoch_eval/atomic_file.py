"""Write a file so that it is never seen half-written (every layer that writes files uses it)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Sequence
from pathlib import Path

_MAX_BUFFERS = 1024  # IOV_MAX on Linux and macOS: the most buffers one writev takes


def write_atomically(path: str | os.PathLike[str], data: bytes | Sequence[bytes]) -> Path:
    """Write `data` to `path` so that `path` is never seen half-written.

    The bytes go to a hidden temporary file in the same folder (".{name}.XXXXXXXX.tmp"), are
    flushed to disk, and the file is renamed over `path` (`os.replace`, atomic on POSIX and
    Windows). On any failure (a full disk included) the temporary file is removed and the
    error propagates. `data` may be a sequence of parts, written one after the other without
    joining them first (a big page of kept parts is not copied once more).

    Raises:
        OSError: when the folder is missing or not writable, or the disk is full.
    """
    target = Path(path)
    temporary = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    descriptor = os.open(temporary, flags, 0o666)
    try:
        with os.fdopen(descriptor, "wb") as stream:
            if isinstance(data, (bytes, bytearray, memoryview)):
                stream.write(data)
            elif hasattr(os, "writev"):
                stream.flush()
                _write_parts(stream.fileno(), data)
            else:  # Windows has no writev
                stream.write(b"".join(data))
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return target


def _write_parts(descriptor: int, parts: Sequence[bytes]) -> None:
    """Write every byte of `parts`, in order, with as few `writev` calls as they allow (a call
    may write less than asked: the rest is written by the next)."""
    views = [memoryview(part) for part in parts if len(part)]
    first = 0
    while first < len(views):
        written = os.writev(descriptor, views[first:first + _MAX_BUFFERS])
        while written and first < len(views):
            size = len(views[first])
            if written >= size:
                written -= size
                first += 1
            else:
                views[first] = views[first][written:]
                written = 0
