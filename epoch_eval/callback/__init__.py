"""The Keras side: a thin callback that gathers predictions and fans results out to sinks.

Keras needs a backend (TensorFlow, JAX or torch), which epoch_eval does not install by itself:
without one, importing this package raises an `ImportError` that names the extras to install.
"""

from epoch_eval.callback.backend import require_keras_backend

require_keras_backend()

from epoch_eval.callback.early_stopping import EarlyStopping  # noqa: E402
from epoch_eval.callback.epoch_evaluator import EpochEvaluator  # noqa: E402

__all__ = ["EarlyStopping", "EpochEvaluator"]
