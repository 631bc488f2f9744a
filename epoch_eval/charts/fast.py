"""`FastCharts`: the charts of successive epochs, drawn for a fraction of a fresh figure's cost."""

from __future__ import annotations

from epoch_eval.charts.render import chart_png
from epoch_eval.charts.thinning import thin_evaluation
from epoch_eval.metrics.result import Evaluation


class FastCharts:
    """Draws chart PNGs for one `fit`, keeping what does not change between epochs."""

    def png(self, name: str, evaluation: Evaluation, epoch: int) -> bytes:
        """Chart `name` of `evaluation`, titled with `epoch`, as PNG bytes."""
        return chart_png(name, thin_evaluation(evaluation), epoch=epoch)
