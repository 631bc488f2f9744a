"""`render_chart` and `save_png_atomically`: fresh Agg figures, atomic PNGs, nothing leaked."""

from __future__ import annotations

import gc
import os
import sys
import weakref

import matplotlib
import matplotlib.image
import matplotlib.text
import numpy as np
import pytest
from chart_evaluations import binary, multiclass, multilabel
from chart_evaluations import undefined as undefined_evaluation
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from epoch_eval.charts import (
    CHART_NAMES,
    CHART_TITLES,
    check_chart_names,
    render_chart,
    save_png_atomically,
    write_chart_png,
)


@pytest.mark.parametrize("name", CHART_NAMES)
@pytest.mark.parametrize("make", [binary, lambda: multiclass(10), multilabel],
                         ids=["binary", "multiclass", "multilabel"])
def test_render_chart_gives_a_titled_agg_figure(name, make):
    figure = render_chart(name, make(), title="Epoch 3 \u2014 chart")
    assert isinstance(figure, Figure)
    assert isinstance(figure.canvas, FigureCanvasAgg)
    assert figure.get_suptitle() == "Epoch 3 \u2014 chart"
    assert figure.get_layout_engine() is not None
    width, height = figure.get_size_inches()
    assert width >= 6.4 and height >= 4.8
    figure.clear()


def test_default_title_is_the_charts_name():
    assert render_chart("roc_curve", binary()).get_suptitle() == CHART_TITLES["roc_curve"]


def test_figure_grows_with_the_class_count():
    small = render_chart("confusion_matrix", multiclass(3)).get_size_inches()
    large = render_chart("confusion_matrix", multiclass(20)).get_size_inches()
    assert (large > small).all()


def test_unknown_chart_name_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"roc_curve.*Received: 'roc'"):
        render_chart("roc", binary())
    with pytest.raises(ValueError, match="confusion_matrix"):
        check_chart_names(["confusion_matrix", "lift"])
    with pytest.raises(ValueError, match="sequence of chart names"):
        check_chart_names("roc_curve")
    assert check_chart_names(list(CHART_NAMES)) == CHART_NAMES


@pytest.mark.parametrize("name", CHART_NAMES)
def test_undefined_evaluation_is_refused_with_its_reason(name):
    with pytest.raises(ValueError, match=f"{name}.*predicted NaN"):
        render_chart(name, undefined_evaluation())


def test_save_writes_a_png_of_the_figure_size_and_no_temporary_file(tmp_path):
    figure = render_chart("confusion_matrix", multiclass(10), title="Epoch 1")
    width, height = figure.get_size_inches() * figure.dpi
    path = save_png_atomically(figure, tmp_path / "confusion_matrix_epoch_001.png")
    assert path == tmp_path / "confusion_matrix_epoch_001.png"
    image = matplotlib.image.imread(path)
    assert image.shape == (round(height), round(width), 4)
    assert os.listdir(tmp_path) == ["confusion_matrix_epoch_001.png"]
    assert figure.axes == []  # released


def test_save_ignores_the_users_savefig_settings(tmp_path):
    figure = render_chart("roc_curve", binary())
    with matplotlib.rc_context({"savefig.dpi": 300, "savefig.bbox": "tight"}):
        save_png_atomically(figure, tmp_path / "roc.png")
    assert matplotlib.image.imread(tmp_path / "roc.png").shape[:2] == (480, 640)


def test_save_replaces_an_existing_file(tmp_path):
    path = tmp_path / "roc.png"
    path.write_bytes(b"old")
    save_png_atomically(render_chart("roc_curve", binary()), path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert os.listdir(tmp_path) == ["roc.png"]


def test_save_into_a_missing_directory_raises_and_leaves_nothing(tmp_path):
    figure = render_chart("roc_curve", binary())
    with pytest.raises(OSError):
        save_png_atomically(figure, tmp_path / "missing" / "roc.png")
    assert os.listdir(tmp_path) == []
    assert figure.axes == []  # released also on failure


def test_a_failure_while_writing_removes_the_temporary_file(tmp_path, monkeypatch):
    import epoch_eval.charts.render

    path = tmp_path / "roc.png"
    path.write_bytes(b"previous epoch")
    figure = render_chart("roc_curve", binary())

    def fail_after_writing(descriptor):  # the PNG is written, but cannot reach the disk
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(epoch_eval.charts.render.os, "fsync", fail_after_writing)
    with pytest.raises(RuntimeError, match="disk on fire"):
        save_png_atomically(figure, path)
    assert os.listdir(tmp_path) == ["roc.png"]
    assert path.read_bytes() == b"previous epoch"


def test_save_can_keep_the_figure(tmp_path):
    figure = render_chart("pr_curve", binary())
    save_png_atomically(figure, tmp_path / "pr.png", release=False)
    assert len(figure.axes) == 1


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
def test_saved_file_has_the_usual_permissions(tmp_path):
    umask = os.umask(0o022)
    try:
        save_png_atomically(render_chart("roc_curve", binary()), tmp_path / "roc.png")
    finally:
        os.umask(umask)
    assert (tmp_path / "roc.png").stat().st_mode & 0o777 == 0o644


def test_write_chart_png(tmp_path):
    path = write_chart_png("pr_curve", multiclass(3), tmp_path / "pr.png", title="Epoch 2")
    assert matplotlib.image.imread(path).ndim == 3


def test_many_renders_leave_no_figure_alive(tmp_path):
    plt = pytest.importorskip("matplotlib.pyplot")
    evaluation = multiclass(3)
    alive = []
    for epoch in range(1, 9):
        for name in CHART_NAMES:
            figure = render_chart(name, evaluation, title=f"Epoch {epoch}")
            alive.append(weakref.ref(figure))
            save_png_atomically(figure, tmp_path / f"{name}_epoch_{epoch:03d}.png")
            del figure
    assert plt.get_fignums() == []
    gc.collect()
    assert [ref for ref in alive if ref() is not None] == []
    assert len(os.listdir(tmp_path)) == 24
    assert not any(name.endswith(".tmp") for name in os.listdir(tmp_path))


def test_pngs_differ_between_charts(tmp_path):
    evaluation = multiclass(3)
    images = [matplotlib.image.imread(write_chart_png(name, evaluation, tmp_path / f"{name}.png"))
              for name in CHART_NAMES]
    assert not np.array_equal(images[1], images[2])


@pytest.mark.parametrize("name", CHART_NAMES)
@pytest.mark.parametrize("make", [
    binary,
    lambda: multiclass(20),
    lambda: multiclass(4, names=["a_rather_long_class_name_that_goes_on", "b", "c", "d"]),
    lambda: multilabel(7),
], ids=["binary", "20-classes", "long-name", "multilabel"])
def test_nothing_is_cut_off(name, make):
    figure = render_chart(name, make(), title="Epoch 12 \u2014 a title")
    figure.canvas.draw()
    drawn = figure.get_tightbbox(figure.canvas.get_renderer())
    page = figure.bbox_inches
    assert drawn.x0 >= page.x0 - 0.01 and drawn.y0 >= page.y0 - 0.01
    assert drawn.x1 <= page.x1 + 0.01 and drawn.y1 <= page.y1 + 0.01
    figure.clear()


@pytest.mark.parametrize("name", CHART_NAMES)
def test_class_names_are_plain_text(name, tmp_path):
    names = ["$5-$10", "50%", r"$\frac$ (bad mathtext)", "{x}"]
    evaluation = multiclass(4, names=names)
    figure = render_chart(name, evaluation)
    texts = [t.get_text() for t in figure.findobj(matplotlib.text.Text)]
    assert any("$5-$10" in text for text in texts)
    save_png_atomically(figure, tmp_path / "chart.png")  # mathtext would raise here
