"""Charts of an `Evaluation`, drawn with Matplotlib's object API (no pyplot, no global state).

Each `plot_*` function takes an `Evaluation` and an optional `ax`, draws, and returns the
artists it made; `render_chart` draws a named chart on a fresh Agg figure and
`save_png_atomically` writes it to a PNG without ever exposing a half-written file.
"""

from epoch_eval.charts._curves import CurvePlot
from epoch_eval.charts.confusion_matrix import (
    ConfusionMatrixPlot,
    MatrixPanel,
    plot_confusion_matrix,
)
from epoch_eval.charts.pr_curve import plot_pr_curve
from epoch_eval.charts.render import (
    CHART_NAMES,
    CHART_TITLES,
    chart_png,
    chart_title,
    check_chart_names,
    render_chart,
    save_png_atomically,
    write_chart_png,
)
from epoch_eval.charts.roc_curve import plot_roc_curve
from epoch_eval.charts.thinning import thin_curve

__all__ = [
    "CHART_NAMES",
    "CHART_TITLES",
    "ConfusionMatrixPlot",
    "CurvePlot",
    "MatrixPanel",
    "chart_png",
    "chart_title",
    "check_chart_names",
    "plot_confusion_matrix",
    "plot_pr_curve",
    "plot_roc_curve",
    "render_chart",
    "save_png_atomically",
    "thin_curve",
    "write_chart_png",
]
