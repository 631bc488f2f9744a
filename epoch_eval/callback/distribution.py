"""What the evaluator needs to know about distributed training, for each Keras backend."""

from __future__ import annotations

import keras


def replica_count(model: keras.Model) -> int:
    """How many replicas a TensorFlow distribution strategy runs the model on (1 otherwise).

    Under `keras.distribution` (JAX's `DataParallel`) `predict_on_batch` already splits each
    batch across the devices and returns one prediction per row (even for a batch that does not
    divide evenly), so the evaluator treats it as a single replica.
    """
    if keras.backend.backend() != "tensorflow":
        return 1
    strategy = getattr(model, "distribute_strategy", None)
    return int(getattr(strategy, "num_replicas_in_sync", 1)) if strategy is not None else 1


def is_chief(model: keras.Model) -> bool:
    """Whether this process is the one that writes files and prints (the chief worker)."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        strategy = getattr(model, "distribute_strategy", None)
        extended = getattr(strategy, "extended", None)
        return bool(getattr(extended, "should_checkpoint", True))
    if backend == "jax":
        import jax

        return jax.process_index() == 0
    if backend == "torch":
        import torch.distributed as dist

        return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0
    return True
