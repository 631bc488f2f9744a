"""`write_atomically`: whole bytes or a sequence of parts, never a half-written file."""

from __future__ import annotations

import errno
import os

import pytest

from epoch_eval.atomic_file import write_atomically

PARTS = [b"<html>", b"", b"x" * 20_000, b",", bytes(range(256)) * 40, b"</html>\n"]


def test_parts_are_written_in_order_like_their_join(tmp_path):
    write_atomically(tmp_path / "page.html", PARTS)
    assert (tmp_path / "page.html").read_bytes() == b"".join(PARTS)
    assert [p.name for p in tmp_path.iterdir()] == ["page.html"]


@pytest.mark.skipif(not hasattr(os, "writev"), reason="no writev here: the parts are joined")
def test_short_writes_are_finished(tmp_path, monkeypatch):
    """A `writev` may write less than asked (a signal, a full pipe): the rest still goes."""
    calls = []

    def short_writev(descriptor, buffers):
        calls.append(len(buffers))
        return os.write(descriptor, b"".join(bytes(b) for b in buffers)[:777])

    monkeypatch.setattr(os, "writev", short_writev)
    write_atomically(tmp_path / "page.html", PARTS * 300)  # more parts than one writev takes
    assert (tmp_path / "page.html").read_bytes() == b"".join(PARTS * 300)
    assert len(calls) > 1 and max(calls) <= 1024


@pytest.mark.skipif(not hasattr(os, "writev"), reason="no writev here: the parts are joined")
def test_a_full_disk_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    (tmp_path / "page.html").write_bytes(b"old")

    def full_disk(descriptor, buffers):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "writev", full_disk)
    with pytest.raises(OSError, match="No space left"):
        write_atomically(tmp_path / "page.html", PARTS)
    assert (tmp_path / "page.html").read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["page.html"]
