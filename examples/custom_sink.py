"""Two custom sinks: each is a subclass of `epoch_eval.Sink` with a `write(result)` method.

    python examples/custom_sink.py

`BestF1` keeps the epoch with the best F1 and its confusion matrix; `JsonLines` appends one
JSON line per evaluated epoch to a file. `result` is an `epoch_eval.EpochResult`: `.epoch`
(1-based), `.evaluation` (an `epoch_eval.Evaluation`) and `.logs` (Keras' epoch logs).
"""

from __future__ import annotations

import json
from pathlib import Path

import keras
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from epoch_eval import EpochEvaluator, EpochResult, HistoryLogs, Sink


class BestF1(Sink):
    """Remember the best epoch by F1, and its confusion matrix."""

    def open(self) -> None:  # called at the start of each fit()
        self.epoch, self.f1, self.confusion_matrix = None, float("-inf"), None

    def write(self, result: EpochResult) -> None:
        if result.evaluation.f1 > self.f1:
            self.epoch, self.f1 = result.epoch, result.evaluation.f1
            self.confusion_matrix = result.evaluation.confusion_matrix


class JsonLines(Sink):
    """Append `{"epoch": ..., "f1": ..., ...}` to a file, one line per evaluated epoch."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def write(self, result: EpochResult) -> None:
        with self.path.open("a", encoding="utf-8") as file:
            file.write(json.dumps({"epoch": result.epoch, **result.evaluation.scalars()}) + "\n")


def main(epochs: int = 6, output_dir: str | None = None) -> tuple[BestF1, JsonLines]:
    """Train for `epochs` epochs; write `metrics.jsonl` into `output_dir`."""
    keras.utils.set_random_seed(0)
    digits = load_digits()
    x = (digits.data / 16.0).astype("float32")
    x_train, x_val, y_train, y_val = train_test_split(
        x, digits.target, test_size=0.25, stratify=digits.target, random_state=0)
    model = keras.Sequential([
        keras.Input(shape=(64,)),
        keras.layers.Dense(32, activation="relu"),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")

    best = BestF1()
    folder = Path(output_dir or "epoch_eval_examples/custom_sink")
    folder.mkdir(parents=True, exist_ok=True)
    lines = JsonLines(folder / "metrics.jsonl")
    model.fit(x_train, y_train, epochs=epochs, verbose=2,
              callbacks=[EpochEvaluator((x_val, y_val), sinks=[HistoryLogs(), best, lines])])
    print(f"best F1 {best.f1:.4f} at epoch {best.epoch}; its confusion matrix:")
    print(best.confusion_matrix)
    print(f"{lines.path}:\n{lines.path.read_text(encoding='utf-8')}", end="")
    return best, lines


if __name__ == "__main__":
    main()
