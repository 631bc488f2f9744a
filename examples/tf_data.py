"""Validation data as a `tf.data.Dataset` that reshuffles on every iteration.

    python examples/tf_data.py

`EpochEvaluator` takes labels and predictions from the SAME pass over the dataset, so the
shuffling cannot pair a prediction with another row's label: the metrics are exactly those of
the same rows passed as arrays. Two evaluators run side by side in one `fit` to show it (the
second one logs under the prefix `val_arrays_`). At the end the example also shows what the
common two-pass recipe (`model.predict(ds)`, then the labels from a second pass) would report.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from epoch_eval import EpochEvaluator, HistoryLogs, Stdout, evaluate


def main(epochs: int = 5, output_dir: str | None = None) -> dict[str, list[float]]:
    """Train for `epochs` epochs; return `history.history` (`output_dir` is unused: no charts).

    History holds `val_f1`, ... from the shuffled dataset and `val_arrays_f1`, ... from the
    arrays, one value per epoch each.
    """
    keras.utils.set_random_seed(0)
    digits = load_digits()
    x = (digits.data / 16.0).astype("float32")
    x_train, x_val, y_train, y_val = train_test_split(
        x, digits.target, test_size=0.25, stratify=digits.target, random_state=0)

    shuffled_val = (tf.data.Dataset.from_tensor_slices((x_val, y_val))
                    .shuffle(len(x_val), reshuffle_each_iteration=True)  # new order every pass
                    .batch(64))

    model = keras.Sequential([
        keras.Input(shape=(64,)),
        keras.layers.Dense(32, activation="relu"),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    callbacks = [
        EpochEvaluator(shuffled_val, sinks=[HistoryLogs(), Stdout()]),
        EpochEvaluator((x_val, y_val), sinks=[HistoryLogs(prefix="val_arrays_")]),
    ]
    history = model.fit(x_train, y_train, epochs=epochs, verbose=2, callbacks=callbacks)

    for name in ("f1", "roc_auc"):
        from_dataset = history.history[f"val_{name}"]
        from_arrays = history.history[f"val_arrays_{name}"]
        same = np.allclose(from_dataset, from_arrays, rtol=0, atol=1e-9)
        print(f"{name}: shuffled tf.data {np.round(from_dataset, 4).tolist()}  "
              f"arrays {np.round(from_arrays, 4).tolist()}  identical: {same}")

    # The trap this avoids: predictions from one pass, labels from another (reshuffled) pass.
    scores = model.predict(shuffled_val, verbose=0)
    labels = np.concatenate([y for _, y in shuffled_val])
    print(f"two separate passes would report f1 {evaluate(labels, scores).f1:.4f} "
          f"instead of {history.history['val_f1'][-1]:.4f}")
    return history.history


if __name__ == "__main__":
    main()
