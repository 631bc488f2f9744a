"""Binary classification: scikit-learn's breast cancer data and one sigmoid unit.

    python examples/binary_breast_cancer.py

Writes `val_f1`, `val_precision`, ... into History, prints a line and a per-class report per
epoch, and saves the confusion matrix, ROC and precision-recall charts of each epoch.
"""

from __future__ import annotations

import keras
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from epoch_eval import EpochEvaluator, HistoryLogs, PngFolder, Stdout


def main(epochs: int = 10, output_dir: str | None = None) -> dict[str, list[float]]:
    """Train for `epochs` epochs, charts into `output_dir`; return `history.history`."""
    keras.utils.set_random_seed(0)
    data = load_breast_cancer()
    x_train, x_val, y_train, y_val = train_test_split(
        data.data, data.target, test_size=0.3, stratify=data.target, random_state=0)
    scaler = StandardScaler().fit(x_train)  # fit on the training rows only
    x_train, x_val = scaler.transform(x_train), scaler.transform(x_val)

    model = keras.Sequential([
        keras.Input(shape=(x_train.shape[1],)),
        keras.layers.Dense(16, activation="relu"),
        keras.layers.Dense(1, activation="sigmoid"),  # P(target == 1), i.e. P("benign")
    ])
    model.compile(optimizer="adam", loss="binary_crossentropy")

    folder = output_dir or "epoch_eval_examples/binary_breast_cancer"
    evaluator = EpochEvaluator(
        (x_val, y_val),
        sinks=[HistoryLogs(), PngFolder(folder), Stdout(report=True)],
        class_names=list(data.target_names),  # ["malignant", "benign"]
        threshold=0.5,
    )
    history = model.fit(x_train, y_train, epochs=epochs, batch_size=32, verbose=2,
                        callbacks=[evaluator])
    print("val_f1 per epoch:", [round(v, 4) for v in history.history["val_f1"]])
    return history.history


if __name__ == "__main__":
    main()
