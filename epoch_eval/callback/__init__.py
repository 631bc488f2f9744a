"""The Keras side: a thin callback that gathers predictions and fans results out to sinks."""

from epoch_eval.callback.epoch_evaluator import EpochEvaluator

__all__ = ["EpochEvaluator"]
