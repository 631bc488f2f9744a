"""`JsonLines`, `read_jsonl` and `python -m epoch_eval.report`."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import types

import numpy as np
import pytest
from sink_epochs import TASKS, assert_same_evaluation, epochs

from epoch_eval import JsonLines, read_jsonl
from epoch_eval.charts.thinning import thin_evaluation
from epoch_eval.metrics.result import frozen_array
from epoch_eval.report import build_report
from epoch_eval.sinks.base import EpochResult
from epoch_eval.sinks.evaluation_json import from_json_value, to_json_value


@pytest.mark.parametrize("honest", [False, True], ids=["plain", "intervals"])
@pytest.mark.parametrize("task", sorted(TASKS))
def test_every_epoch_reads_back_as_the_written_evaluation(task, honest, tmp_path):
    written = epochs(task, honest=honest)
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
    assert set(data["epochs"][2]["charts"]) == {"confusion_matrix", "roc_curve", "pr_curve"}


def test_report_of_an_empty_file_says_so(tmp_path):
    (tmp_path / "empty.jsonl").write_text("")
    with pytest.raises(ValueError, match="no epoch records"):
        build_report(tmp_path / "empty.jsonl", tmp_path / "r.html")
    from epoch_eval.report import main
    assert main([str(tmp_path / "missing.jsonl")]) == 1


def test_intervals_churn_and_best_threshold_read_back_as_python_values(tmp_path):
    binary, = epochs("binary", 2, honest=True)[1:]
    intervals = dict(binary.evaluation.intervals)
    intervals["roc_auc"] = (float("nan"), float("nan"))
    intervals["pr_auc"] = (float("-inf"), float("inf"))
    evaluation = dataclasses.replace(
        binary.evaluation, intervals=types.MappingProxyType(intervals),  # any Mapping
        best_threshold=float("nan"))
    sink = JsonLines(tmp_path / "run.jsonl")
    sink.write(EpochResult(2, evaluation, {}))
    sink.close()
    (_, read), = read_jsonl(tmp_path / "run.jsonl")
    assert isinstance(read.intervals, dict) and list(read.intervals) == list(intervals)
    for name, (low, high) in intervals.items():
        pair = read.intervals[name]
        assert type(pair) is tuple and [type(v) for v in pair] == [float, float], name
        np.testing.assert_array_equal(pair, (low, high), err_msg=name)  # nan equals nan
    assert read.intervals["f1"] == intervals["f1"]
    assert read.confidence == 0.95 and read.churn == evaluation.churn
    assert isinstance(read.best_threshold, float) and np.isnan(read.best_threshold)
    assert read.f1_at_best_threshold == evaluation.f1_at_best_threshold
    assert read.per_class_intervals["recall"].shape == (2, 2)
    np.testing.assert_array_equal(read.per_class_intervals["recall"],
                                  evaluation.per_class_intervals["recall"])


def test_multilabel_best_thresholds_read_back_as_arrays(tmp_path):
    written = epochs("multilabel", 1, honest=True)[0].evaluation
    evaluation = dataclasses.replace(
        written, f1_at_best_threshold_heldout=frozen_array(np.array([0.5, np.nan, 0.7])))
    (_, read), = [(1, from_json_value(json.loads(json.dumps(to_json_value(evaluation)))))]
    assert read.best_threshold.shape == (3,) and not read.best_threshold.flags.writeable
    np.testing.assert_array_equal(read.best_threshold, written.best_threshold)
    np.testing.assert_array_equal(read.f1_at_best_threshold_heldout, [0.5, np.nan, 0.7])
    assert read.churn is None  # the first epoch has none


def test_real_intervals_and_standard_errors_read_back_nan_included(tmp_path):
    """`evaluate(confidence=...)` of a set without positives: nan AUC and AP, their nan
    intervals and standard errors read back as floats."""
    import warnings

    from epoch_eval import evaluate

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        evaluation = evaluate([0, 0, 0, 0], [0.2, 0.7, 0.4, 0.1], confidence=0.95)
    assert np.isnan(evaluation.standard_errors["roc_auc"])
    back = from_json_value(json.loads(json.dumps(to_json_value(evaluation))))
    for name, error in evaluation.standard_errors.items():
        assert isinstance(back.standard_errors[name], float)
        assert back.standard_errors[name] == error or (np.isnan(error)
                                                        and np.isnan(back.standard_errors[name]))
    assert np.isnan(back.intervals["pr_auc"][0]) and back.confidence == 0.95
