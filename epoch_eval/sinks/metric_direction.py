"""Which way is better for a value shown against the epoch: one rule for every sink that
marks a best epoch (`HtmlReport`, `Notebook`)."""

from __future__ import annotations

LOWER_IS_BETTER = ("loss", "error", "crossentropy", "hinge", "divergence", "mse", "mae",
                   "mape", "msle", "churn")
"""Parts of a name whose best epoch is its lowest: Keras' losses and error metrics
(`val_loss`, `mae`, `categorical_crossentropy`, ...), epoch_eval's churn and AUC error bound."""


def lower_is_better(name: str) -> bool:
    """Whether the best epoch of `name` is its lowest value."""
    return any(part in name for part in LOWER_IS_BETTER)
