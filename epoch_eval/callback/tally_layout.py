"""Where each count of a `Tally` lives in its one state vector, and the lookup tables that
give a row its slots (NumPy only: the tally turns them into constants of its compiled step)."""

from __future__ import annotations

import numpy as np


class TallyLayout:
    """Where each count lives in a tally's one state vector, and the lookup tables that map a
    row's label to its slots.

    In order: the confusion cells (`C x C`, true-major; multilabel `L x 2 x 2`), the cells of
    rows whose label is out of range (single-label: one per predicted class), the histograms
    (per ranked class, negatives then positives, `bins + 1` slots: the last one holds NaN and
    infinite scores), a histogram for rows with an invalid label, then the row counter, the
    weight of multilabel rows with every label right, and a slot that discards.
    """

    def __init__(self, task: str, n_classes: int, bins: int) -> None:
        self.n_classes = n = n_classes
        ranked = 1 if task == "binary" else n
        per_histogram = bins + 1
        multilabel = task == "multilabel"
        n_cells = 4 * n if multilabel else n * n
        invalid_start = n_cells
        histogram_start = invalid_start + (0 if multilabel else n)
        junk_start = histogram_start + ranked * 2 * per_histogram
        self.rows = junk_start + (0 if multilabel else per_histogram)
        self.subset_correct = self.rows + 1
        self.discard = self.rows + 2
        self.size = self.rows + 3
        self.cells = slice(0, n_cells)
        self.invalid_labels = slice(invalid_start, histogram_start)
        self.histogram = slice(histogram_start, junk_start)
        # the NaN/infinite slot of every histogram, the invalid-label one's included
        self.nonfinite = np.r_[np.arange(histogram_start, junk_start, per_histogram)
                               + bins, [] if multilabel else [self.rows - 1]].astype(np.int64)
        class_histograms = histogram_start + np.arange(ranked) * 2 * per_histogram
        if multilabel:
            self.label_cells = np.arange(n, dtype=np.int32) * 4
            self.label_histograms = class_histograms.astype(np.int32)
            self.slots_per_row = 2 * n + 2
            return
        # row_slots[label + 1] = the slots of a row with that label, before adding its
        # predicted class (cell) and its bins (histograms); rows 0 and n + 1: out of range
        self.slots_per_row = ranked + 2
        table = np.empty((n + 2, self.slots_per_row), dtype=np.int32)
        table[:, 0] = invalid_start
        table[:, 1:-1] = junk_start
        table[:, -1] = self.rows
        for label in range(n):
            positive = label == 1 if task == "binary" else np.arange(ranked) == label
            table[label + 1, 0] = label * n
            table[label + 1, 1:-1] = class_histograms + positive * per_histogram
        self.row_slots = table
