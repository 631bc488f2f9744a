"""Scores sorted from the highest down with each one's row and class membership: the one sort
behind weighted curves."""

from __future__ import annotations

import sys
from collections.abc import Callable

import numpy as np


class Workspace:
    """Work arrays kept from one use to the next (the next class, the next chunk).

    At a million rows, faulting fresh pages in for every temporary costs as much as the
    arithmetic done on them. One workspace per thread.
    """

    def __init__(self) -> None:
        self._buffers: dict[str, np.ndarray] = {}

    def array(self, name: str, size: int, dtype: type) -> np.ndarray:
        """An uninitialised `(size,)` array, the memory of the last array of that name when
        it is large enough (which it then replaces)."""
        nbytes = size * np.dtype(dtype).itemsize
        buffer = self._buffers.get(name)
        if buffer is None or len(buffer) < nbytes:
            buffer = self._buffers[name] = np.empty(nbytes, dtype=np.uint8)
        return buffer[:nbytes].view(dtype)


class Descending:
    """Scores sorted from the highest down, each with its row and whether it is positive.

    float32 and float16 scores are sorted as 64-bit keys, the score's bits made orderable in
    the high half and the row with a positive flag in the low half: NumPy sorts those several
    times faster than `argsort` sorts floats, and no label or index array has to be gathered
    through an order afterwards. float64 scores are sorted by `argsort`.

    Its arrays may live in the `Workspace` it was made with: use it before that workspace
    ranks anything else.
    """

    def __init__(self, runs: np.ndarray, payload: np.ndarray, positive_flag: int,
                 decode: Callable[[np.ndarray], np.ndarray], workspace: Workspace,
                 positives_first: bool = False,
                 encode: Callable[[np.ndarray], np.ndarray] | None = None) -> None:
        self.runs = runs  # equal values for tied scores, highest score first
        self.payload = payload  # row | positive_flag, in the same order
        self.positive_flag = positive_flag
        self._decode = decode  # runs -> scores
        self._encode = encode or (lambda values: values.astype(runs.dtype))  # the reverse
        self._workspace = workspace
        self._positives_first = positives_first  # in each run of ties

    @classmethod
    def of(cls, scores: np.ndarray, truth: np.ndarray, workspace: Workspace) -> Descending:
        """Rank `scores`, 1-D, or `(n, C)` pooled (every score of row i has row i), with the
        booleans `truth` of the same shape."""
        rows = len(scores)
        if scores.dtype in (np.float32, np.float16) and rows < 2**31 and sys.byteorder == "little":
            return cls._by_keys(scores, truth, workspace)
        flag = 1 << 63
        payload = np.empty(scores.shape, dtype=np.uint64)
        payload[...] = _row_numbers(scores.shape, np.uint64)
        np.bitwise_or(payload, np.uint64(flag), out=payload, where=truth)
        order = np.argsort(scores, axis=None)[::-1]
        runs = scores.reshape(-1)[order]
        return cls(runs, payload.reshape(-1)[order], flag, np.asarray, workspace)

    @classmethod
    def _by_keys(cls, scores: np.ndarray, truth: np.ndarray,
                 workspace: Workspace) -> Descending:
        keys = workspace.array("keys", scores.size, np.uint64)
        halves = keys.view(np.uint32)  # per key: the low half, then the high half
        high, low = halves[1::2], halves[0::2]
        # adding 0.0 turns -0.0 into 0.0, which must tie with it
        np.add(scores.reshape(-1), np.float32(0.0), out=high.view(np.float32),
               dtype=np.float32)
        np.bitwise_xor(high, _order_mask(high), out=high)
        np.bitwise_or(np.left_shift(truth, 31, dtype=np.uint32),
                      _row_numbers(scores.shape, np.uint32), out=low.reshape(scores.shape))
        keys.sort()
        # in a run of ties the low halves descend: its positives come first
        return cls(halves[1::2][::-1], halves[0::2][::-1], 1 << 31, _float32_of_keys, workspace,
                   positives_first=True, encode=_keys_of_float32)

    def __len__(self) -> int:
        return len(self.runs)

    def scores_at(self, index: np.ndarray) -> np.ndarray:
        """The scores at these positions of the order (float32 for float16 scores)."""
        return self._decode(self.runs[index])

    def keys_of(self, scores: np.ndarray) -> np.ndarray:
        """Scores as `runs` holds them: equal where the scores are equal, ordered as they
        are."""
        return self._encode(scores)

    def scores_of(self, keys: np.ndarray) -> np.ndarray:
        """The scores of values of `runs` (`keys_of` reversed)."""
        return self._decode(keys)

    def distinct(self) -> int:
        """How many distinct scores there are."""
        if len(self) == 0:
            return 0
        differs = self._workspace.array("differs", len(self) - 1, bool)
        return 1 + int(np.count_nonzero(np.not_equal(self.runs[1:], self.runs[:-1],
                                                     out=differs)))

    def run_ends(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Where runs of tied scores end among positions `start` to `stop`, counted from
        `start` (a run that goes on past `stop` does not end there)."""
        stop = len(self) if stop is None else stop
        runs = self.runs[start:stop + 1]
        differs = self._workspace.array("differs", len(runs) - 1, bool)
        ends = np.flatnonzero(np.not_equal(runs[1:], runs[:-1], out=differs))
        return np.append(ends, stop - start - 1) if stop == len(self) else ends

    def holds_positive(self, ends: np.ndarray, positive: np.ndarray) -> np.ndarray:
        """Whether each run of ties, ending at `ends`, holds a positive score (`positive`:
        each score's flag, from `weights()`)."""
        if len(ends) == len(positive):  # every score is its own run
            return positive
        starts = np.r_[0, ends[:-1] + 1]
        if self._positives_first:
            return positive[starts]
        return np.logical_or.reduceat(positive, starts)

    def weights(self, weight: np.ndarray, start: int = 0,
                stop: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The weight of each score from position `start` to `stop` (its row's), and whether
        it is positive. Both live in the workspace."""
        payload = self.payload[start:stop]
        size, space = len(payload), self._workspace
        rows = np.bitwise_and(payload, self.positive_flag - 1,
                              out=space.array("rows", size, np.intp))
        weights = np.take(weight, rows, out=space.array("weights", size, np.float64),
                          mode="wrap")  # every row is in range; "wrap" spares a copy
        positive = np.greater_equal(payload, self.positive_flag,
                                    out=space.array("positive", size, bool))
        return weights, positive

    def turning_counts(self, weight: np.ndarray, start: int = 0, stop: int | None = None,
                       carry: tuple[float, float] = (0.0, 0.0),
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Running sums of the weights of negatives and of positives, from the sums `carry`
        before `start`, at the ends of the runs of ties from position `start` to `stop` (a run
        boundary) that hold a positive or come just before one, and at the first and last:
        every point where a curve can turn. The points left out lie inside a stretch of
        negatives, on the straight line between two kept ones. Also returns their positions.
        """
        stop = len(self) if stop is None else stop
        weights, positive, at, starts = self._turning_points(weight, start, stop)
        negatives, positives = self._sums(weights, positive, starts)
        negatives[0] += carry[0]
        positives[0] += carry[1]
        return (np.cumsum(negatives, out=negatives), np.cumsum(positives, out=positives),
                np.add(at, start, out=at))

    def turning_squares(self, weight: np.ndarray,
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """`turning_counts` over all positions, and the sums of the squared weights of the
        negatives and of the positives from one kept point to the next (not accumulated):
        what a variance of the curve's area needs (`influence.py`)."""
        weights, positive, at, starts = self._turning_points(weight, 0, len(self))
        negatives, positives = self._sums(weights, positive, starts)
        np.multiply(weights, weights, out=weights)
        negative_squares, positive_squares = self._sums(weights, positive, starts)
        return (np.cumsum(negatives, out=negatives), np.cumsum(positives, out=positives), at,
                negative_squares, positive_squares)

    def _turning_points(self, weight: np.ndarray, start: int, stop: int,
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The weights and positive flags from `start` to `stop`, the kept points (see
        `turning_counts`) counted from `start`, and where the stretch ending at each begins."""
        weights, positive = self.weights(weight, start, stop)
        ends = self.run_ends(start, stop)
        holds_positive = self.holds_positive(ends, positive)
        keep = holds_positive.copy()  # the run ends a step up, or the next run starts one
        keep[:-1] |= holds_positive[1:]
        keep[0] = keep[-1] = True
        at = ends[keep]
        return weights, positive, at, np.r_[0, at[:-1] + 1]

    def _sums(self, weights: np.ndarray, positive: np.ndarray,
              starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The weights of negatives and of positives summed from each start to the next."""
        positive_weights = np.multiply(weights, positive, out=self._workspace.array(
            "positive weights", len(weights), np.float64))
        positives = np.add.reduceat(positive_weights, starts)
        negatives = np.add.reduceat(weights, starts)
        negatives -= positives  # exactly 0 where all are positive: the same sum twice
        return negatives, positives

    def run_boundary(self, position: int, window: int = 4096) -> int:
        """The first position from `position` (at least 1) where a run of ties starts, or the
        length."""
        while position < len(self):
            runs = self.runs[position - 1:position + window]
            changes = np.flatnonzero(runs[1:] != runs[:-1])
            if len(changes):
                return position + int(changes[0])
            position += window
        return len(self)


def _keys_of_float32(scores: np.ndarray) -> np.ndarray:
    """The bits of float32 `scores` made orderable as unsigned integers (-0.0 as 0.0)."""
    bits = np.add(scores, np.float32(0.0), dtype=np.float32).view(np.uint32)
    return np.bitwise_xor(bits, _order_mask(bits), out=bits)


def _float32_of_keys(keys: np.ndarray) -> np.ndarray:
    """`_keys_of_float32` reversed."""
    return np.bitwise_xor(keys, _order_mask(~keys)).view(np.float32)


def _order_mask(bits: np.ndarray) -> np.ndarray:
    """What to XOR float32 `bits` with to make them order as unsigned integers as the floats
    order: all bits of a negative float (its magnitude orders backwards), the sign bit of
    any other."""
    mask = np.right_shift(bits.view(np.int32), 31).view(np.uint32)  # all ones if negative
    return np.bitwise_or(mask, np.uint32(1 << 31), out=mask)


def _row_numbers(shape: tuple[int, ...], dtype: type) -> np.ndarray:
    """Each row's number, shaped to broadcast over an array of `shape`."""
    return np.arange(shape[0], dtype=dtype).reshape((-1,) + (1,) * (len(shape) - 1))
