"""Write a file so that it is never seen half-written (every layer that writes files uses it)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


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
