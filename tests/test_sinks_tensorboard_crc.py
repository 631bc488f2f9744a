"""The C checksums of TensorBoard's records equal `tensorboard`'s own pure-Python ones."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("tensorboard")
pytest.importorskip("google_crc32c")

from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c
from tensorboard.summary.writer import record_writer

from epoch_eval.sinks.tensorboard_crc import speed_up_record_checksums


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=3000))
def test_c_checksums_equal_tensorboards(data):
    assert speed_up_record_checksums()
    assert record_writer.masked_crc32c(data) == masked_crc32c(data)


def test_the_writer_uses_the_c_code_once_patched():
    assert speed_up_record_checksums() and speed_up_record_checksums()  # idempotent
    assert record_writer.masked_crc32c is not masked_crc32c
    assert record_writer.masked_crc32c.epoch_eval_c_code
