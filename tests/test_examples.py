"""The demo and every script in examples/ run end to end, on a small budget."""

from __future__ import annotations

import ast
import importlib.util
import json
import re
from pathlib import Path
from types import ModuleType

import matplotlib.image
import numpy as np
import pytest

from epoch_eval import demo

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
TESTED_EXAMPLES = {"binary_breast_cancer", "multilabel", "tf_data", "custom_sink",
                   "logits_and_pydataset", "tally_mode"}
SCALARS = ("f1", "precision", "recall", "accuracy", "roc_auc", "pr_auc")


def load_example(name: str) -> ModuleType:
    """Import `examples/{name}.py` by path (examples/ is not a package)."""
    spec = importlib.util.spec_from_file_location(f"epoch_eval_example_{name}",
                                                  EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def assert_pngs(folder: Path, charts: tuple[str, ...], epochs: int) -> None:
    """Exactly one readable image per chart and epoch, named as PngFolder promises."""
    expected = {f"{chart}_epoch_{epoch:03d}.png" for chart in charts
                for epoch in range(1, epochs + 1)}
    assert {path.name for path in folder.iterdir()} == expected
    for name in expected:
        image = matplotlib.image.imread(folder / name)
        assert image.ndim == 3 and image.shape[0] > 200 and image.shape[1] > 200


def assert_history(history: dict[str, list[float]], epochs: int, prefix: str = "val_") -> None:
    for name in SCALARS:
        values = history[f"{prefix}{name}"]
        assert len(values) == epochs
        assert all(isinstance(v, float) and 0.0 <= v <= 1.0 for v in values), (name, values)


def test_demo_prints_epoch_lines_chart_folder_and_val_f1(tmp_path, capsys):
    output = tmp_path / "charts"
    assert demo.main(["--epochs", "2", "--output", str(output)]) is None  # exit status 0
    out = capsys.readouterr().out

    # each value with its 95% interval; churn from the second epoch
    lines = re.findall(r"^epoch_eval epoch (\d+): f1 (\d\.\d{4}) \[\d\.\d{4}, \d\.\d{4}\] - "
                       r"precision \d\.\d{4} \[.*\(macro, 450 samples, 95% intervals\)"
                       r"( - churn \d\.\d{4})?$", out, flags=re.MULTILINE)
    assert [epoch for epoch, _, _ in lines] == ["1", "2"]
    assert [bool(churn) for _, _, churn in lines] == [False, True]
    assert f"Charts: 6 PNG files in {output.resolve()}" in out
    assert "confusion_matrix_epoch_002.png" in out
    match = re.search(r'^history\.history\["val_f1"\] = (\[.*\])$', out, flags=re.MULTILINE)
    assert match is not None
    val_f1 = ast.literal_eval(match.group(1))
    assert val_f1 == [float(f1) for _, f1, _ in lines]  # the same values, both rounded to 4
    assert "val_f1: " in out  # Keras' own epoch line shows it too
    assert_pngs(output, ("confusion_matrix", "roc_curve", "pr_curve"), epochs=2)
    report = tmp_path / "charts.html"  # beside the chart folder
    assert f"HTML report (every epoch, one slider): {report.resolve()}" in out
    page = report.read_text(encoding="utf-8")
    assert '"epoch":2' in page and '"confusion_matrix":{"names":' in page


def test_demo_refuses_a_bad_epoch_count(capsys):
    with pytest.raises(SystemExit) as exit_info:
        demo.main(["--epochs", "0"])
    assert exit_info.value.code == 2
    assert "--epochs: must be a positive integer" in capsys.readouterr().err


def test_binary_breast_cancer(tmp_path, capsys):
    history = load_example("binary_breast_cancer").main(epochs=2, output_dir=str(tmp_path))
    assert_history(history, epochs=2)
    out = capsys.readouterr().out
    assert "(binary, 171 samples, 95% intervals)" in out
    assert re.search(r"^\s+malignant\s+\d\.\d{4}", out, flags=re.MULTILINE)  # the report
    assert_pngs(tmp_path, ("confusion_matrix", "roc_curve", "pr_curve"), epochs=2)


def test_multilabel(tmp_path, capsys):
    history = load_example("multilabel").main(epochs=2, output_dir=str(tmp_path))
    assert_history(history, epochs=2)
    assert "(macro, 300 samples, 95% intervals)" in capsys.readouterr().out
    assert_pngs(tmp_path, ("confusion_matrix", "roc_curve", "pr_curve"), epochs=2)


def test_tf_data_reshuffled_each_iteration_equals_arrays(capsys):
    pytest.importorskip("tensorflow")
    history = load_example("tf_data").main(epochs=2)
    assert_history(history, epochs=2)
    assert_history(history, epochs=2, prefix="val_arrays_")
    for name in SCALARS:
        assert history[f"val_{name}"] == pytest.approx(history[f"val_arrays_{name}"],
                                                       rel=0, abs=1e-12)
    out = capsys.readouterr().out
    assert out.count("identical: True") == 2
    two_pass = float(re.search(r"two separate passes would report f1 (\d\.\d{4})", out)[1])
    assert abs(two_pass - history["val_f1"][-1]) > 0.05  # the trap the example warns about


def test_custom_sinks_record_every_epoch(tmp_path):
    best, lines = load_example("custom_sink").main(epochs=2, output_dir=str(tmp_path))
    records = [json.loads(line) for line in
               (tmp_path / "metrics.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [record["epoch"] for record in records] == [1, 2]
    assert set(records[0]) == {"epoch", *SCALARS}
    best_record = max(records, key=lambda record: record["f1"])
    assert (best.epoch, best.f1) == (best_record["epoch"], best_record["f1"])
    assert best.confusion_matrix.shape == (10, 10)
    assert best.confusion_matrix.sum() == 450
    assert np.trace(best.confusion_matrix) / 450 == pytest.approx(best_record["accuracy"])
    assert lines.path == tmp_path / "metrics.jsonl"


def test_logits_and_pydataset(tmp_path):
    history = load_example("logits_and_pydataset").main(epochs=1, output_dir=str(tmp_path))
    assert_history(history, epochs=1)
    assert history["val_f1"][0] > 0.1  # scored as probabilities after the softmax
    assert_pngs(tmp_path, ("roc_curve",), epochs=1)


def test_tally_mode(tmp_path, capsys):
    history = load_example("tally_mode").main(epochs=2, output_dir=str(tmp_path))
    assert_history(history, epochs=2)
    out = capsys.readouterr().out
    assert re.search(r"roc_auc \d\.\d{4} \(\u00b1\d\.\d{4}\)", out)  # the certified bound
    assert "(macro, 450 samples, 95% intervals)" in out
    assert_pngs(tmp_path, ("confusion_matrix", "roc_curve", "pr_curve"), epochs=2)


def test_every_example_is_tested_here_and_runs_as_a_script():
    assert {path.stem for path in EXAMPLES.glob("*.py")} == TESTED_EXAMPLES
    for name in TESTED_EXAMPLES:
        source = (EXAMPLES / f"{name}.py").read_text(encoding="utf-8")
        assert "\ndef main(" in source, name
        assert '\nif __name__ == "__main__":\n    main()\n' in source, name
