"""Tally mode: no second pass over the validation data. A `Tally` compiled with the model
counts during fit's own validation pass; the evaluator reads its counts at each epoch's end.

    python examples/tally_mode.py

Writes `val_f1`, `val_precision`, ... into History (exact, from the counts), prints a line per
epoch with the ROC AUC's certified error bound, and saves the charts of each epoch.
"""

from __future__ import annotations

import keras
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from epoch_eval import EpochEvaluator, HistoryLogs, PngFolder, Stdout, Tally


def main(epochs: int = 10, output_dir: str | None = None) -> dict[str, list[float]]:
    """Train for `epochs` epochs, charts into `output_dir`; return `history.history`."""
    keras.utils.set_random_seed(0)
    x, y = load_digits(return_X_y=True)
    x_train, x_val, y_train, y_val = train_test_split(x / 16.0, y, test_size=0.25,
                                                      stratify=y, random_state=0)
    model = keras.Sequential([
        keras.Input(shape=(64,)),
        keras.layers.Dense(32, activation="relu"),
        keras.layers.Dense(10, activation="softmax"),
    ])
    tally = Tally(class_names=[f"digit {i}" for i in range(10)])
    # Keras' "accuracy" keeps its key; the tally adds f1, precision, recall and roc_auc
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy", tally])

    folder = output_dir or "epoch_eval_examples/tally_mode"
    evaluator = EpochEvaluator(tally, sinks=[HistoryLogs(), PngFolder(folder), Stdout()])
    history = model.fit(x_train, y_train, epochs=epochs, batch_size=32, verbose=2,
                        validation_data=(x_val, y_val),  # the one validation pass
                        callbacks=[evaluator])
    print("val_f1 per epoch:", [round(v, 4) for v in history.history["val_f1"]])
    return history.history


if __name__ == "__main__":
    main()
