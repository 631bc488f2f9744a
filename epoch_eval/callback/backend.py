"""A clear error when Keras, or the Keras backend it is configured for, is not installed."""

from __future__ import annotations

import importlib.util
import os

BACKEND_EXTRAS = ("tensorflow", "jax", "torch")
"""The backends epoch_eval is tested on; each is also the name of the extra that installs it."""


def require_keras_backend() -> None:
    """Import Keras, or raise an `ImportError` that says which extra to install.

    Raises:
        ImportError: Keras is missing, or its backend (`KERAS_BACKEND`, else Keras' config file,
            else TensorFlow) is not installed.
    """
    try:
        import keras  # noqa: F401
    except ImportError as error:
        missing = getattr(error, "name", None)
        if missing not in ("keras", *BACKEND_EXTRAS) and not _is_backend_module(missing):
            raise
        raise ImportError(_advice(missing)) from error


def _is_backend_module(name: str | None) -> bool:
    return bool(name) and str(name).split(".")[0] in (*BACKEND_EXTRAS, "jaxlib")


def _advice(missing: str | None) -> str:
    wanted = os.environ.get("KERAS_BACKEND")
    installed = [name for name in BACKEND_EXTRAS if importlib.util.find_spec(name) is not None]
    configured = (f"KERAS_BACKEND={wanted}" if wanted
                  else "Keras' configured backend; KERAS_BACKEND is not set")
    hint = (f" Installed here: {', '.join(installed)}; select it with e.g. "
            f"`KERAS_BACKEND={installed[0]}`." if installed else "")
    return (f"epoch_eval's EpochEvaluator needs Keras with a backend, and `{missing}` is not "
            f"installed (wanted by {configured}). Install epoch-eval with the extra of your "
            'backend: `pip install "epoch-eval[tensorflow]"`, `"epoch-eval[jax]"` or '
            f'`"epoch-eval[torch]"`, and set KERAS_BACKEND for jax or torch.{hint} '
            "`epoch_eval.evaluate()` and the charts work without Keras.")
