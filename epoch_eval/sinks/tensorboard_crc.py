"""A C implementation of the checksums in TensorBoard's event files.

The `tensorboard` package's record writer computes each record's CRC-32C in pure Python, about
30 ms for a 200 KB chart image: most of what `TensorBoardLogs` costs per epoch. With
`google-crc32c` installed (the `tensorboard` extra installs it), the writer uses its C code
instead: the same checksums, so the files are byte for byte the same.
"""

from __future__ import annotations

_MASK_DELTA = 0xA282EAD8
_U32 = 0xFFFFFFFF


def speed_up_record_checksums() -> bool:
    """Have `tensorboard`'s record writer checksum records with `google-crc32c`'s C code.

    Returns:
        Whether the C code is in use (False without `google-crc32c`, or where it only has its
        pure-Python fallback).
    """
    try:
        import google_crc32c
    except ImportError:
        return False
    if google_crc32c.implementation != "c":
        return False
    from tensorboard.summary.writer import record_writer

    if getattr(record_writer.masked_crc32c, "epoch_eval_c_code", False):
        return True

    def masked_crc32c(data: bytes) -> int:
        """TensorFlow's masked CRC-32C of a record, as `tensorboard`'s own function."""
        crc = google_crc32c.value(bytes(data))
        return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & _U32

    masked_crc32c.epoch_eval_c_code = True  # type: ignore[attr-defined]
    record_writer.masked_crc32c = masked_crc32c
    return True
