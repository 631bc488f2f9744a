"""`epoch_eval.shard` and `share_bounds`: how validation rows are split between processes (the
process count and index are passed in, so no second process is needed; every backend)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import epoch_eval
from epoch_eval.callback.sharding import share_bounds


def all_shares(n_rows: int, processes: int, **kwargs):
    x = np.arange(n_rows * 3, dtype=np.float32).reshape(n_rows, 3)
    y = np.arange(n_rows) % 5
    return x, y, [epoch_eval.shard(x, y, process_count=processes, process_index=index,
                                   local_devices=kwargs.pop("local_devices", 1), **kwargs)
                  for index in range(processes)]


@pytest.mark.parametrize("n_rows, processes", [(451, 2), (10, 3), (2, 4), (1, 1), (64, 2)])
def test_share_bounds_cover_every_row_once_in_order(n_rows, processes):
    bounds = [share_bounds(n_rows, processes, index) for index in range(processes)]
    assert bounds[0][0] == 0 and bounds[-1][1] == n_rows
    assert all(stop == start for (_, stop), (start, _) in itertools.pairwise(bounds))
    sizes = [stop - start for start, stop in bounds]
    assert max(sizes) - min(sizes) <= 1


def test_451_rows_over_2_processes_give_equal_full_batches_each_row_weighed_once():
    x, y, shares = all_shares(451, 2, batch_size=32)
    assert [len(share_y) for _, share_y, _ in shares] == [256, 256]  # 8 batches of 32 each
    real_x = np.concatenate([share_x[weight > 0] for share_x, _, weight in shares])
    real_y = np.concatenate([share_y[weight > 0] for _, share_y, weight in shares])
    np.testing.assert_array_equal(real_x, x)  # every row once, in order
    np.testing.assert_array_equal(real_y, y)
    assert [int((weight > 0).sum()) for _, _, weight in shares] == [225, 226]
    for share_x, share_y, weight in shares:
        assert weight.dtype == np.float32 and set(weight.tolist()) == {0.0, 1.0}
        padding = weight == 0  # copies of the share's last row
        np.testing.assert_array_equal(share_x[padding], np.repeat(share_x[~padding][-1:],
                                                                  padding.sum(), axis=0))
        assert np.all(share_y[padding] == share_y[~padding][-1])


def test_given_weights_travel_with_their_rows():
    x = np.arange(7.0)[:, None]
    y = np.arange(7)
    weight = np.array([0.5, 1, 2, 3, 4, 5, 6])
    shares = [epoch_eval.shard(x, y, weight, batch_size=2, process_count=2, process_index=i,
                               local_devices=2) for i in range(2)]
    assert [len(share_y) for _, share_y, _ in shares] == [4, 4]
    np.testing.assert_array_equal(shares[0][2], [0.5, 1, 2, 0])
    np.testing.assert_array_equal(shares[1][2], [3, 4, 5, 6])


def test_structures_of_arrays_are_split_alike():
    x = {"image": np.arange(10.0).reshape(5, 2), "extra": np.arange(5)}
    y = [np.arange(5), np.arange(5) * 10]
    share_x, share_y, weight = epoch_eval.shard(x, y, batch_size=4, process_count=2,
                                                process_index=1, local_devices=1)
    np.testing.assert_array_equal(share_x["extra"], [2, 3, 4, 4])
    np.testing.assert_array_equal(share_y[1], [20, 30, 40, 40])
    np.testing.assert_array_equal(weight, [1, 1, 1, 0])


def test_more_processes_than_rows_leaves_a_share_of_padding_only():
    _, _, shares = all_shares(1, 2, batch_size=2)
    assert [weight.tolist() for _, _, weight in shares] == [[0.0, 0.0], [1.0, 0.0]]


def test_one_process_keeps_every_row_and_pads_the_last_batch():
    x, _, (share,) = all_shares(5, 1, batch_size=4)
    np.testing.assert_array_equal(share[0][:5], x)
    assert share[2].tolist() == [1, 1, 1, 1, 1, 0, 0, 0]


@pytest.mark.parametrize("arguments, message", [
    ({"batch_size": 3, "local_devices": 2}, r"batch_size=3.*2 local devices"),
    ({"batch_size": 0}, "`batch_size` must be a positive integer"),
    ({"process_count": 0}, "`process_count` must be a positive integer"),
    ({"process_index": 2}, r"`process_index` must be an integer in \[0, 2\)"),
    ({"process_index": -1}, r"`process_index` must be an integer in \[0, 2\)"),
    ({"local_devices": True}, "`local_devices` must be a positive integer"),
])
def test_settings_that_cannot_work_are_refused(arguments, message):
    settings = {"batch_size": 32, "process_count": 2, "process_index": 0, "local_devices": 1,
                **arguments}
    with pytest.raises(ValueError, match=message):
        epoch_eval.shard(np.zeros((4, 2)), np.zeros(4), **settings)


@pytest.mark.parametrize("x, y, weight, message", [
    (np.zeros((4, 2)), np.zeros(3), None, r"same number of rows.*'x': \[4\], 'y': \[3\]"),
    (np.zeros((0, 2)), np.zeros(0), None, "0 rows"),
    (np.zeros((4, 2)), None, None, "needs the inputs `x` and the labels `y`"),
    (np.zeros((4, 2)), np.zeros(4), np.ones((4, 1)), r"of shape \(4,\)"),
    (np.zeros((4, 2)), np.zeros(4), np.array([1, -1, 1, 1]), "non-negative"),
    (np.zeros((4, 2)), np.zeros(4), np.array([1, np.nan, 1, 1]), "finite"),
    (np.zeros((4, 2)), np.zeros(4), np.array(["a"] * 4), "must be numbers"),
    (np.float32(1), np.zeros(4), None, "one row per sample"),
])
def test_bad_arrays_are_refused(x, y, weight, message):
    with pytest.raises(ValueError, match=message):
        epoch_eval.shard(x, y, weight, process_count=2, process_index=0, local_devices=1)


def test_defaults_are_this_process_of_the_backend():
    """One process here (any backend, no distribution): the whole set, padded to a batch."""
    x, y = np.zeros((40, 2), np.float32), np.arange(40) % 3
    share_x, share_y, weight = epoch_eval.shard(x, y)
    assert len(share_x) == len(share_y) == 64 and weight.sum() == 40


# -- the evaluator's own split (predict mode, the whole set in every process) -----------------
def rows_of(data) -> list[int]:
    return [int(row) for _, y, _ in data.batches() for row in y]


def test_arrays_are_split_into_contiguous_rows_in_batches_of_the_whole_sets_size():
    from epoch_eval.callback.validation_data import ValidationData

    y = np.arange(11)
    data = ValidationData((np.zeros((11, 2)), y, np.arange(11.0)), batch_size=4)
    parts = [data.part(2, index) for index in range(2)]
    assert [rows_of(part) for part in parts] == [list(range(5)), list(range(5, 11))]
    assert [len(batch_y) for _, batch_y, _ in parts[1].batches()] == [4, 2]
    weights = [w for _, _, w in parts[1].batches()]  # each row keeps its own weight
    np.testing.assert_array_equal(np.concatenate(weights), np.arange(5.0, 11.0))


def test_batches_are_dealt_round_robin_and_every_batch_is_read():
    from epoch_eval.callback.validation_data import ValidationData

    read = []

    def batches():
        for start in range(0, 10, 3):
            read.append(start)
            rows = np.arange(start, min(start + 3, 10))
            yield np.zeros((len(rows), 2)), rows

    data = ValidationData(batches)
    assert rows_of(data.part(3, 1)) == [3, 4, 5]
    assert read == [0, 3, 6, 9]  # the others' batches too: no dataset is left half read
    assert rows_of(data.part(3, 0)) == [0, 1, 2, 9]


def test_a_validation_set_smaller_than_the_process_count_is_refused(monkeypatch):
    from conftest import mlp

    import epoch_eval.callback.sources as sources

    monkeypatch.setattr(sources, "process_count", lambda: 3)
    model = mlp(4, 3)
    x, y = np.zeros((8, 4), np.float32), np.arange(8) % 3
    evaluator = epoch_eval.EpochEvaluator((x[:2], y[:2]))
    with pytest.raises(ValueError, match="2 rows for 3 processes"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[evaluator])


def test_sharded_must_be_a_bool_and_belongs_to_predict_mode():
    with pytest.raises(ValueError, match="`sharded` must be True or False"):
        epoch_eval.EpochEvaluator((np.zeros((4, 2)), np.zeros(4)), sharded="yes")
    with pytest.raises(ValueError, match="sharded"):
        epoch_eval.EpochEvaluator(epoch_eval.Tally(), sharded=True)
