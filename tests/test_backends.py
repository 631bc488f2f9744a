"""Without a Keras backend: `evaluate()`, the charts and the sinks work; the callback says which
extra to install. Each check runs in a fresh process, since Keras picks its backend on import."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_python(code: str, **env: str) -> subprocess.CompletedProcess:
    environ = {**os.environ, **env, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", code], env=environ, cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False)


def test_import_and_evaluate_load_neither_keras_nor_a_backend():
    completed = run_python(
        "import sys\n"
        "import epoch_eval\n"
        "from epoch_eval import evaluate, HistoryLogs, PngFolder, Stdout\n"
        "from epoch_eval.charts import render_chart\n"
        "render_chart('roc_curve', evaluate([0, 1, 1, 0], [0.2, 0.9, 0.4, 0.6]))\n"
        "print(sorted(m for m in ('keras', 'tensorflow', 'jax', 'torch') if m in sys.modules))\n")
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert completed.stdout.strip().splitlines()[-1] == "[]"


def test_without_keras_the_callback_names_the_extras():
    completed = run_python(
        "import sys\n"
        "sys.modules['keras'] = None  # as if Keras were not installed\n"
        "from epoch_eval import evaluate\n"
        "assert evaluate([0, 1], [0.3, 0.8]).f1 == 1.0\n"
        "try:\n"
        "    from epoch_eval import EpochEvaluator\n"
        "except ImportError as error:\n"
        "    print(error)\n")
    assert completed.returncode == 0, completed.stderr[-3000:]
    message = completed.stdout
    assert "`keras` is not installed" in message
    for extra in ("epoch-eval[tensorflow]", "epoch-eval[jax]", "epoch-eval[torch]"):
        assert extra in message


def test_a_configured_backend_that_is_not_installed_is_named():
    missing = [name for name in ("tensorflow", "jax", "torch")
               if importlib.util.find_spec(name) is None]
    if not missing:
        pytest.skip("every backend is installed here")
    completed = run_python(
        "try:\n"
        "    import epoch_eval.callback\n"
        "except ImportError as error:\n"
        "    print(error)\n", KERAS_BACKEND=missing[0])
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert f"`{missing[0]}` is not installed (wanted by KERAS_BACKEND={missing[0]})" \
        in completed.stdout
    assert "epoch-eval[" in completed.stdout


def test_the_demo_without_its_backend_exits_with_the_advice():
    missing = [name for name in ("tensorflow", "jax", "torch")
               if importlib.util.find_spec(name) is None]
    if not missing:
        pytest.skip("every backend is installed here")
    completed = run_python("from epoch_eval import demo; demo.main(['--epochs', '1'])",
                           KERAS_BACKEND=missing[0])
    assert completed.returncode == 1
    assert completed.stderr.startswith("epoch_eval demo: ")
    assert "epoch-eval[jax]" in completed.stderr and "Traceback" not in completed.stderr
