"""Tally mode under MirroredStrategy: the replicas' counts sum to each row counted once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def test_tally_under_mirrored_strategy_counts_each_row_once():
    pytest.importorskip("tensorflow")
    script = Path(__file__).with_name("distributed_tally_fit.py")
    root = str(Path(__file__).resolve().parents[1])  # this checkout's epoch_eval, first
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [root, *filter(None, [os.environ.get("PYTHONPATH")])])}
    completed = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                               timeout=300, check=False, env=env)
    assert completed.returncode == 0, completed.stderr[-3000:]
    summary = json.loads(completed.stdout.strip().splitlines()[-1])
    assert summary["replicas"] == 2
    assert summary["n_samples"] == summary["n_val"]
    assert summary["confusion_matrix"] == summary["sklearn_confusion_matrix"]
    assert summary["f1"] == pytest.approx(summary["sklearn_f1"], rel=1e-9)
    assert summary["val_f1"][-1] == summary["f1"]
