"""`JsonLines`, `read_jsonl` and `python -m epoch_eval.report`."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from sink_epochs import TASKS, assert_same_evaluation, epochs

from epoch_eval import JsonLines, read_jsonl
from epoch_eval.charts.thinning import thin_evaluation
from epoch_eval.report import build_report
from epoch_eval.sinks.evaluation_json import from_json_value, to_json_value


@pytest.mark.parametrize("task", sorted(TASKS))
def test_every_epoch_reads_back_as_the_written_evaluation(task, tmp_path):
    written = epochs(task)
    sink = JsonLines(tmp_path / "run.jsonl")
    sink.open()
    for result in written:
        sink.write(result)
    sink.close()

    read = read_jsonl(tmp_path / "run.jsonl")
    assert [epoch for epoch, _ in read] == [1, 2, 3]
    for (_, evaluation), result in zip(read, written, strict=True):
        # curves as the charts thin them (the macro ROC curve has 4,001 points)
        assert_same_evaluation(evaluation, thin_evaluation(result.evaluation))


def test_each_line_is_strict_json_with_the_epoch_and_its_scalars(tmp_path):
    sink = JsonLines(tmp_path / "run.jsonl")
    sink.open()
    for result in epochs("undefined", 1) + epochs("multiclass", 2)[1:]:
        sink.write(result)
    sink.close()
    lines = (tmp_path / "run.jsonl").read_text().splitlines()
    records = [json.loads(line, parse_constant=pytest.fail) for line in lines]  # no NaN token
    assert [r["epoch"] for r in records] == [1, 2]
    assert records[0]["scalars"]["f1"] == "nan"
    assert records[1]["scalars"]["f1"] == epochs("multiclass", 2)[1].evaluation.f1
    assert records[1]["evaluation"]["class_names"] == [f"class_{k:02d}" for k in range(4)]


def test_curves_are_stored_thinned(tmp_path):
    rng = np.random.default_rng(5)
    from epoch_eval import evaluate
    from epoch_eval.sinks.base import EpochResult

    y = rng.integers(0, 2, 30_000)
    evaluation = evaluate(y, np.clip(0.2 * y + 0.8 * rng.random(30_000), 0, 1))
    sink = JsonLines(tmp_path / "run.jsonl")
    sink.write(EpochResult(1, evaluation, {}))
    sink.close()
    (_, read), = read_jsonl(tmp_path / "run.jsonl")
    assert len(evaluation.roc_curves[0].fpr) > 10_000
    assert len(read.roc_curves[0].fpr) == len(thin_evaluation(evaluation).roc_curves[0].fpr)
    assert len(read.roc_curves[0].fpr) < len(evaluation.roc_curves[0].fpr)
    assert read.roc_auc == evaluation.roc_auc


def test_appends_without_rewriting_earlier_lines(tmp_path):
    path = tmp_path / "run.jsonl"
    first = JsonLines(path)
    first.open()
    first.write(epochs("binary", 1)[0])
    first.close()
    before = path.read_bytes()
    second = JsonLines(path)  # a second run appends to the same file
    second.open()
    for result in epochs("binary", 2):
        second.write(result)
    second.close()
    assert path.read_bytes().startswith(before)
    assert [epoch for epoch, _ in read_jsonl(path)] == [1, 1, 2]


def test_a_run_killed_mid_line_leaves_every_complete_line_readable(tmp_path):
    path = tmp_path / "run.jsonl"
    sink = JsonLines(path)
    for result in epochs("multiclass", 2):
        sink.write(result)
    sink.close()
    text = path.read_text()
    path.write_text(text + text.splitlines()[0][:500])  # killed while writing line 3
    assert [epoch for epoch, _ in read_jsonl(path)] == [1, 2]

    resumed = JsonLines(path)  # the next run starts on a fresh line
    resumed.open()
    resumed.write(epochs("multiclass", 3)[2])
    resumed.close()
    with pytest.warns(RuntimeWarning, match=r"run.jsonl:3, a line cut short"):
        read = read_jsonl(path)
    assert [epoch for epoch, _ in read] == [1, 2, 3]


def test_a_field_missing_from_an_older_file_takes_its_default():
    evaluation = epochs("multiclass", 1)[0].evaluation
    encoded = to_json_value(evaluation)
    del encoded["undefined_reason"], encoded["roc_macro"]
    decoded = from_json_value(json.loads(json.dumps(encoded)))
    assert decoded.undefined_reason is None and decoded.roc_macro is None
    assert decoded.f1 == evaluation.f1


def test_not_an_epoch_file_is_a_value_error_naming_the_line(tmp_path):
    path = tmp_path / "other.jsonl"
    path.write_text('{"format": "epoch_eval.jsonl/1", "epoch": 1, "evaluation": {}}\n'
                    '{"hello": 1}\n')
    with pytest.raises(ValueError, match=r"other.jsonl:1"):
        read_jsonl(path)
    path.write_text('{"hello": 1}\n')
    with pytest.raises(ValueError, match=r"other.jsonl:1: not an epoch_eval epoch record"):
        read_jsonl(path)


def test_a_folder_as_path_is_refused_at_open(tmp_path):
    with pytest.raises(IsADirectoryError, match="is a folder"):
        JsonLines(tmp_path).open()


def test_report_cli_builds_the_page_after_the_fact(tmp_path):
    path = tmp_path / "run.jsonl"
    sink = JsonLines(path)
    written = epochs("multiclass", 3)
    for result in written:
        sink.write(result)
    sink.close()
    done = subprocess.run([sys.executable, "-m", "epoch_eval.report", str(path), "-o",
                           str(tmp_path / "report.html")], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert "3 epochs" in done.stdout
    page = (tmp_path / "report.html").read_text()
    data = json.loads(page.split('id="epoch-data">')[1].split("</script>")[0])
    assert [item["epoch"] for item in data["epochs"]] == [1, 2, 3]
    assert data["epochs"][2]["scalars"]["f1"] == f"{written[2].evaluation.f1:.4f}"
    assert set(data["epochs"][2]["images"]) == {"confusion_matrix", "roc_curve", "pr_curve"}


def test_report_of_an_empty_file_says_so(tmp_path):
    (tmp_path / "empty.jsonl").write_text("")
    with pytest.raises(ValueError, match="no epoch records"):
        build_report(tmp_path / "empty.jsonl", tmp_path / "r.html")
    from epoch_eval.report import main
    assert main([str(tmp_path / "missing.jsonl")]) == 1
