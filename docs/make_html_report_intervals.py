"""Make the page behind docs/html_report_intervals.png: a real fit's `HtmlReport`, with the
interval bands, churn and best threshold the evaluator computes (binary: scikit-learn's
bundled breast cancer set, a small MLP, 12 epochs).

    python docs/make_html_report_intervals.py /tmp/report.html
    chromium --headless=new --no-sandbox --hide-scrollbars --window-size=1300,880 \\
        --screenshot=docs/html_report_intervals.png file:///tmp/report.html
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # this checkout

import keras
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from epoch_eval import EpochEvaluator, HtmlReport


def main(path: str) -> None:
    x, y = load_breast_cancer(return_X_y=True)
    x_train, x_val, y_train, y_val = train_test_split(x, y, test_size=0.4, random_state=0,
                                                      stratify=y)
    scaler = StandardScaler().fit(x_train)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((30,)), keras.layers.Dense(8, activation="relu"),
                              keras.layers.Dense(1, activation="sigmoid")])
    model.compile(keras.optimizers.SGD(0.01), "binary_crossentropy")
    report = HtmlReport(path, title="epoch_eval report: 95% intervals")
    model.fit(scaler.transform(x_train), y_train, epochs=12, batch_size=32, verbose=0,
              callbacks=[EpochEvaluator((scaler.transform(x_val), y_val), sinks=[report],
                                        class_names=["malignant", "benign"])])


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "report.html")
