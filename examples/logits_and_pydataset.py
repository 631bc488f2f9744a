"""A model that outputs logits, and validation data as a `keras.utils.PyDataset`.

    python examples/logits_and_pydataset.py

The last layer has no activation, so the loss and `EpochEvaluator` both get `from_logits=True`
(the evaluator applies the softmax before scoring). The validation rows come from a
`PyDataset` that reshuffles its order at the end of every pass; labels and predictions are taken
in the same pass, so the order does not matter.
"""

from __future__ import annotations

import math

import keras
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from epoch_eval import EpochEvaluator, HistoryLogs, PngFolder, Stdout


class ShuffledBatches(keras.utils.PyDataset):
    """`(x, y)` batches in an order that changes after every pass."""

    def __init__(self, x: np.ndarray, y: np.ndarray, batch_size: int = 64, seed: int = 0):
        super().__init__()
        self.x, self.y, self.batch_size = x, y, batch_size
        self.rng = np.random.default_rng(seed)
        self.order = self.rng.permutation(len(x))

    def __len__(self) -> int:
        return math.ceil(len(self.x) / self.batch_size)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        rows = self.order[index * self.batch_size:(index + 1) * self.batch_size]
        return self.x[rows], self.y[rows]

    def on_epoch_end(self) -> None:
        self.order = self.rng.permutation(len(self.x))


def main(epochs: int = 5, output_dir: str | None = None) -> dict[str, list[float]]:
    """Train for `epochs` epochs, charts into `output_dir`; return `history.history`."""
    keras.utils.set_random_seed(0)
    digits = load_digits()
    x = (digits.data / 16.0).astype("float32")
    x_train, x_val, y_train, y_val = train_test_split(
        x, digits.target, test_size=0.25, stratify=digits.target, random_state=0)

    model = keras.Sequential([
        keras.Input(shape=(64,)),
        keras.layers.Dense(32, activation="relu"),
        keras.layers.Dense(10),  # logits: no softmax
    ])
    model.compile(optimizer="adam",
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))

    evaluator = EpochEvaluator(
        ShuffledBatches(x_val, y_val),
        sinks=[HistoryLogs(), Stdout(),
               PngFolder(output_dir or "epoch_eval_examples/logits_and_pydataset",
                         charts=["roc_curve"])],
        from_logits=True,
        class_names=[str(d) for d in digits.target_names],
    )
    history = model.fit(ShuffledBatches(x_train, y_train, batch_size=32, seed=1),
                        epochs=epochs, verbose=2, callbacks=[evaluator])
    print("val_f1 per epoch:", [round(v, 4) for v in history.history["val_f1"]])
    return history.history


if __name__ == "__main__":
    main()
