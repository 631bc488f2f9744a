"""Make the notebook behind docs/notebook.png: a fit with the `Notebook` sink, executed in a
real kernel (this interpreter, this checkout) by nbclient and saved as a frontend keeps it
(scikit-learn's bundled digits, a small MLP, 8 epochs).

    python docs/make_notebook.py /tmp/notebook.ipynb
    jupyter nbconvert --to html /tmp/notebook.ipynb      # pip install nbconvert
    chromium --headless=new --no-sandbox --hide-scrollbars --window-size=1100,1440 \\
        --screenshot=docs/notebook.png file:///tmp/notebook.html
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nbclient
import nbformat

ROOT = Path(__file__).resolve().parents[1]

CELLS = ['''\
import keras
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from epoch_eval import EpochEvaluator, HistoryLogs, Notebook

x, y = load_digits(return_X_y=True)
x_train, x_val, y_train, y_val = train_test_split((x / 16).astype("float32"), y,
                                                  test_size=0.25, random_state=0, stratify=y)
keras.utils.set_random_seed(0)
model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(32, activation="relu"),
                          keras.layers.Dense(10, activation="softmax")])
model.compile("adam", "sparse_categorical_crossentropy")''', '''\
evaluator = EpochEvaluator((x_val, y_val), sinks=[HistoryLogs(), Notebook()])
history = model.fit(x_train, y_train, epochs=8, validation_data=(x_val, y_val),
                    verbose=0, callbacks=[evaluator])''']


def main(path: str) -> None:
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, (str(ROOT),
                                                             os.environ.get("PYTHONPATH"))))
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)
                                               for source in CELLS])
    # "python3" runs this interpreter: jupyter_client puts sys.executable for "python".
    nbclient.NotebookClient(notebook, kernel_name="python3", timeout=600,
                            resources={"metadata": {"path": str(ROOT)}}).execute()
    setup = notebook.cells[0]  # TensorFlow's start-up log on stderr is left out of the picture
    setup.outputs = [output for output in setup.outputs if output.get("name") != "stderr"]
    nbformat.write(notebook, path)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "notebook.ipynb")
