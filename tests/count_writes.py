"""A sink for the distributed-fit scripts: records each epoch it receives."""

from __future__ import annotations

from epoch_eval import EpochResult, Sink


class CountWrites(Sink):
    """Records every epoch handed to it, to show that each is delivered once."""

    def __init__(self) -> None:
        self.epochs: list[int] = []

    def write(self, result: EpochResult) -> None:
        self.epochs.append(result.epoch)
