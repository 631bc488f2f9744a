"""Distributed runs: every replica predicts, the chief alone writes files and prints."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import mlp

import epoch_eval.callback.epoch_evaluator as epoch_evaluator_module
from epoch_eval import EpochEvaluator, HistoryLogs, PngFolder, Stdout


def run_fit_script(name: str, output: Path) -> dict:
    """Run `tests/<name>` in a fresh process on this checkout; return its JSON summary."""
    script = Path(__file__).with_name(name)
    root = str(script.parent.parent)  # this checkout's epoch_eval, not an installed one
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [root, *filter(None, [os.environ.get("PYTHONPATH")])])}
    completed = subprocess.run([sys.executable, str(script), str(output)], env=env,
                               capture_output=True, text=True, timeout=300, check=False)
    assert completed.returncode == 0, completed.stderr[-3000:]
    return json.loads(completed.stdout.strip().splitlines()[-1])


def check_distributed_summary(summary: dict) -> None:
    """Values equal scikit-learn's, each row counted once, files and lines written once."""
    assert summary["replicas"] == 2
    assert len(summary["val_f1"]) == 2
    assert summary["n_samples"] == summary["n_val"]  # no row counted once per replica
    assert summary["f1"] == pytest.approx(summary["sklearn_f1"], rel=1e-9)
    assert summary["files"] == sorted(f"{chart}_epoch_{epoch:03d}.png"
                                      for chart in ("confusion_matrix", "pr_curve", "roc_curve")
                                      for epoch in (1, 2))
    assert summary["printed_lines"] == 2
    assert summary["written_epochs"] == [1, 2]  # each epoch reached the chief's sinks once


def test_mirrored_strategy_on_two_logical_cpus(tmp_path):
    pytest.importorskip("tensorflow")
    check_distributed_summary(run_fit_script("distributed_fit.py", tmp_path))


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="JAX is not installed")
def test_jax_data_parallel_on_two_host_cpus(tmp_path):
    summary = run_fit_script("jax_data_parallel_fit.py", tmp_path)
    assert summary["backend"] == "jax"
    check_distributed_summary(summary)
    tally = summary["tally"]  # tally mode: the sharded validation pass, each row once
    assert tally["n_samples"] == tally["n_val"] and tally["confusion_equal"]
    assert tally["val_f1"] == pytest.approx(tally["sklearn_f1"], rel=1e-9)
    assert tally["training_keys"] == ["loss"]


def test_workers_other_than_the_chief_only_fill_logs(digits, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(epoch_evaluator_module, "is_chief", lambda model: False)
    x_train, y_train, x_val, y_val = digits
    model = mlp(64, 10)
    history = model.fit(x_train, y_train, epochs=1, verbose=0, callbacks=[EpochEvaluator(
        (x_val, y_val), sinks=[HistoryLogs(), PngFolder(tmp_path / "charts"), Stdout()])])
    assert "val_f1" in history.history
    assert not (tmp_path / "charts").exists()
    assert "epoch_eval epoch" not in capsys.readouterr().out
