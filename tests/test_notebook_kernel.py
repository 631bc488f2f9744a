"""`Notebook` in a real notebook: nbclient runs cells in a real IPython kernel (this
interpreter, this checkout) and saves what a frontend would keep (streams merged, as Jupyter
saves them); Keras prints a line an epoch beside the view."""

from __future__ import annotations

import base64
import io
import json
import os
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

SETUP = """\
import epoch_eval
assert epoch_eval.__file__ == {expected!r}, epoch_eval.__file__
import keras
from sklearn.datasets import load_digits
from epoch_eval import EpochEvaluator, Notebook

x, y = load_digits(return_X_y=True)
x = (x / 16.0).astype("float32")
x_train, y_train, x_val, y_val = x[:1300], y[:1300], x[1300:], y[1300:]

def fit(epochs):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    evaluator = EpochEvaluator((x_val, y_val), sinks=[Notebook()])
    model.fit(x_train, y_train, epochs=epochs, batch_size=64, verbose=2,  # a line an epoch
              validation_data=(x_val, y_val), callbacks=[evaluator])
    return evaluator
"""


@pytest.fixture(scope="module")
def executed(tmp_path_factory) -> list:
    """The cells of a notebook that fits for 3, then 8 epochs and then shows the last
    `Evaluation`, as nbclient saved them."""
    import keras

    if keras.backend.backend() != "tensorflow":
        pytest.skip("a real kernel imports the backend again (10-20 s): run on the TensorFlow "
                    "leg only; the sink has no backend code, and tests/test_sinks_notebook.py "
                    "runs on every backend")
    import ipykernel  # noqa: F401  (the `test` extra has them: a missing one fails here)
    import nbclient
    import nbformat
    home = tmp_path_factory.mktemp("jupyter")
    spec = home / "kernels" / "epoch_eval_test"
    spec.mkdir(parents=True)
    python_path = os.pathsep.join(filter(None, (str(ROOT), os.environ.get("PYTHONPATH"))))
    spec.joinpath("kernel.json").write_text(json.dumps({  # this interpreter, this checkout
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "epoch_eval test", "language": "python",
        "env": {"PYTHONPATH": python_path, "IPYTHONDIR": str(home / "ipython"),
                "MPLBACKEND": "Agg", "TF_CPP_MIN_LOG_LEVEL": "3"}}))
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell(SETUP.format(expected=str(ROOT / "epoch_eval" /
                                                           "__init__.py"))),
        nbformat.v4.new_code_cell("evaluator = fit(3)"),
        nbformat.v4.new_code_cell("evaluator = fit(8)"),
        nbformat.v4.new_code_cell("evaluator.latest.evaluation"),
        # `close` shows nothing here: what the saved view holds came from the drawing thread
        nbformat.v4.new_code_cell(
            "shows_last = Notebook.close\n"
            "Notebook.close = lambda self: setattr(self, '_live', False)\n"
            "try:\n"
            "    fit(4)\n"
            "finally:\n"
            "    Notebook.close = shows_last"),
    ])
    environ = {"JUPYTER_PATH": str(home), "JUPYTER_RUNTIME_DIR": str(home / "runtime")}
    saved = {key: os.environ.get(key) for key in environ}
    os.environ.update(environ)
    try:
        nbclient.NotebookClient(notebook, kernel_name="epoch_eval_test", timeout=300,
                                startup_timeout=120, coalesce_streams=True,  # as Jupyter saves
                                resources={"metadata": {"path": str(home)}}).execute()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    saved_file = home / "executed.ipynb"
    nbformat.write(notebook, saved_file)  # read back as a frontend would open it
    return nbformat.read(saved_file, as_version=4).cells


def views(cell) -> list[dict]:
    return [output for output in cell.outputs if output.output_type == "display_data"]


def test_one_output_per_fit_whatever_the_epoch_count(executed):
    three, eight = executed[1], executed[2]
    assert len(views(three)) == len(views(eight)) == 1
    assert len(three.outputs) == len(eight.outputs)
    for cell, epochs in ((three, 3), (eight, 8)):  # the view first, then Keras' epoch lines
        assert cell.outputs[0].output_type == "display_data"
        printed = "".join(output.text for output in cell.outputs if output.get("name") == "stdout")
        assert re.findall(r"^Epoch (\d+)/", printed, re.MULTILINE) == [
            str(epoch) for epoch in range(1, epochs + 1)]


@pytest.mark.parametrize("cell, epochs", [(1, 3), (2, 8), (4, 4)])
def test_the_saved_view_shows_the_last_epoch_with_its_charts(executed, cell, epochs):
    """Cell 4: updates made from the drawing thread alone reach the saved notebook."""
    from PIL import Image

    view = views(executed[cell])[0].data
    page = view["text/html"]
    assert view["text/plain"].startswith(f"epoch_eval epoch {epochs}: f1 ")
    assert f"data-epoch='{epochs}'" in page
    assert re.search(rf"data-metric='epoch'>{epochs}<", page)
    for name in ("f1", "roc_auc", "loss", "val_loss"):
        points = re.search(rf"<svg class='epoch-eval-trend'[^>]*aria-label='{name} .*?"
                           r"<polyline points='([^']*)'", page).group(1)
        assert len(points.split()) == epochs
    charts = re.findall(r"<img [^>]*data-chart='(\w+)' data-epoch='(\d+)'[^>]*"
                        r"src='data:image/png;base64,([^']+)'", page)
    assert sorted(name for name, _, _ in charts) == ["confusion_matrix", "pr_curve",
                                                     "roc_curve"]
    for _, epoch, data in charts:
        assert epoch == str(epochs)
        image = Image.open(io.BytesIO(base64.b64decode(data)))
        image.load()
        assert image.format == "PNG" and min(image.size) > 100
    assert "are being drawn" not in page


def test_the_view_holds_the_values_the_evaluation_renders(executed):
    shown = executed[3].outputs[0]
    assert shown.output_type == "execute_result"
    values = dict(re.findall(r"data-metric='(\w+)'>([^<]*)", shown.data["text/html"]))
    view = dict(re.findall(r"data-metric='(\w+)'>([^<]*)",
                           views(executed[2])[0].data["text/html"]))
    for name in ("f1", "precision", "recall", "accuracy", "roc_auc", "pr_auc"):
        assert view[name].strip() == values[name].strip()
    assert len(re.findall(r"src='data:image/png;base64,", shown.data["text/html"])) == 3
