"""`HtmlReport`: the page's data, its atomic rewrites, and the page in a real headless browser."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
from pathlib import Path
from xml.etree import ElementTree

import numpy as np
import pytest
from PIL import Image
from sink_epochs import TASKS, epochs

from epoch_eval import HtmlReport
from epoch_eval.metrics.result import SCALAR_NAMES


def page_data(path) -> dict:
    page = path.read_text(encoding="utf-8")
    return json.loads(page.split('id="epoch-data">')[1].split("</script>")[0])


def write_run(path, results) -> HtmlReport:
    sink = HtmlReport(path)
    sink.open()
    for result in results:
        sink.write(result)
    sink.close()
    return sink


@pytest.mark.parametrize("task", sorted(TASKS))
def test_page_holds_every_epoch_with_4_decimals_and_its_charts(task, tmp_path):
    written = epochs(task)
    write_run(tmp_path / "report.html", written)
    data = page_data(tmp_path / "report.html")
    assert [item["epoch"] for item in data["epochs"]] == [1, 2, 3]
    for item, result in zip(data["epochs"], written, strict=True):
        for name in SCALAR_NAMES:
            value = getattr(result.evaluation, name)
            assert item["scalars"][name] == ("nan" if value != value else f"{value:.4f}")
        assert [row[0] for row in item["rows"]] == list(result.evaluation.class_names)
        if result.evaluation.is_defined:
            assert set(item["charts"]) == {"confusion_matrix", "roc_curve", "pr_curve"}
            assert_matrix_cells(item["charts"]["confusion_matrix"], result.evaluation)
            roc = item["charts"]["roc_curve"]
            assert [c["name"] for c in roc["curves"]] == [
                c.label for c in result.evaluation.roc_curves if c.auc == c.auc]
            assert [c["score"] for c in roc["curves"]] == pytest.approx(
                [c.auc for c in result.evaluation.roc_curves if c.auc == c.auc], abs=1e-6)
        else:
            assert item["charts"] == {} and item["undefined"]
    page = (tmp_path / "report.html").read_text()
    assert f"<dd>{written[-1].evaluation.task}</dd>" in page
    assert f"<dd>{written[-1].evaluation.n_samples}</dd>" in page


def assert_matrix_cells(chart: dict, evaluation) -> None:
    """The page's matrix cells are the evaluation's confusion matrix (one 2x2 per label)."""
    matrix = np.asarray(evaluation.confusion_matrix)
    if evaluation.task == "multilabel":
        assert [panel["cells"] for panel in chart["panels"]] == matrix.tolist()
    else:
        assert chart["cells"] == matrix.tolist()


def test_page_needs_no_network(tmp_path):
    write_run(tmp_path / "report.html", epochs("binary", 2))
    page = (tmp_path / "report.html").read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "fetch(" not in page and "<link" not in page


def test_rewritten_atomically_after_every_epoch(tmp_path, monkeypatch):
    path = tmp_path / "report.html"
    renames = []

    def spy_replace(source, target):  # each page is complete before it takes the name
        assert os.path.dirname(source) == str(tmp_path) and str(target) == str(path)
        assert Path(source).read_text(encoding="utf-8").endswith("</html>\n")
        renames.append(source)
        real_replace(source, target)

    real_replace = os.replace
    monkeypatch.setattr("epoch_eval.sinks.html_report.os.replace", spy_replace)
    sink = HtmlReport(path)
    sink.open()
    for result in epochs("multiclass", 3):
        before = len(renames)
        sink.write(result)
        assert len(renames) > before
        assert [item["epoch"] for item in page_data(path)["epochs"]][-1] == result.epoch
        assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]  # no leftovers


def test_best_epoch_is_marked(tmp_path):
    written = epochs("multiclass", 4)
    write_run(tmp_path / "report.html", written)
    f1 = [result.evaluation.f1 for result in written]
    best = f1.index(max(f1)) + 1
    assert f"f1: best {max(f1):.4f} at epoch {best}" in (tmp_path / "report.html").read_text()


def test_a_folder_as_path_is_refused_at_open(tmp_path):
    with pytest.raises(IsADirectoryError, match="is a folder"):
        HtmlReport(tmp_path).open()


# --- In a real browser --------------------------------------------------------------------

def browser():
    """A headless Chromium driven by Selenium; fails in CI, skips elsewhere, when missing."""
    missing = [name for name in ("chromium", "chromedriver") if shutil.which(name) is None]
    try:
        from selenium import webdriver
    except ImportError:
        missing.append("selenium (pip)")
    if missing:
        message = (f"no headless browser: {', '.join(missing)} missing; install it with "
                   "`apt-get install chromium chromium-driver` (Debian) and "
                   "`pip install -e '.[test]'`")
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu",
                     "--window-size=1300,1800"):
        options.add_argument(argument)
    service = webdriver.ChromeService(executable_path=shutil.which("chromedriver"))
    return webdriver.Chrome(options=options, service=service)


def shown_scalars(driver) -> dict[str, str]:
    from selenium.webdriver.common.by import By

    return {cell.get_attribute("data-metric"): cell.text
            for cell in driver.find_elements(By.CSS_SELECTOR, "#scalars td")}


def shown_matrix(driver) -> list[list[float]]:
    """The counts of the confusion-matrix cells the page drew, row by row."""
    from selenium.webdriver.common.by import By

    cells = driver.find_elements(By.CSS_SELECTOR, "#chart-confusion_matrix rect[data-count]")
    counts = [float(c.get_attribute("data-count")) for c in cells]
    side = round(len(counts) ** 0.5)
    return [counts[i * side:(i + 1) * side] for i in range(side)]


def shown_curves(driver, chart: str) -> dict[str, list[tuple[float, float]]]:
    """The curves the page drew in `chart`, by name, in pixels."""
    from selenium.webdriver.common.by import By

    return {line.get_attribute("data-name"): xy(line.get_attribute("points"))
            for line in driver.find_elements(By.CSS_SELECTOR, f"#chart-{chart} polyline")}


def test_slider_switches_every_panel_in_a_browser(tmp_path):
    written = epochs("multiclass", 3)
    write_run(tmp_path / "report.html", written)
    driver = browser()  # without a browser: a visible skip, or a failure in CI
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    try:
        driver.get((tmp_path / "report.html").as_uri())
        label = driver.find_element(By.ID, "epoch-label")
        assert label.text == "Epoch 3"  # opens on the latest epoch
        assert shown_scalars(driver)["f1"] == f"{written[2].evaluation.f1:.4f}"

        slider = driver.find_element(By.ID, "slider")
        slider.send_keys(Keys.ARROW_LEFT, Keys.ARROW_LEFT)  # the keyboard moves the slider
        assert label.text == "Epoch 1"
        assert shown_scalars(driver) == {
            name: f"{getattr(written[0].evaluation, name):.4f}" for name in SCALAR_NAMES}
        first_row = driver.find_elements(By.CSS_SELECTOR, "#per-class tr")[1]
        assert first_row.text.split()[:4] == [
            "class_00", *(f"{getattr(written[0].evaluation.per_class, k)[0]:.4f}"
                          for k in ("precision", "recall", "f1"))]
        chart = driver.find_element(By.ID, "chart-confusion_matrix")
        assert chart.get_attribute("aria-label") == "Confusion matrix at epoch 1"
        assert chart.size["width"] > 100
        assert shown_matrix(driver) == written[0].evaluation.confusion_matrix.tolist()
        assert len(shown_curves(driver, "roc_curve")) == 4 + 2  # classes, micro and macro

        driver.find_element(By.TAG_NAME, "h1").click()  # focus off the slider:
        driver.find_element(By.TAG_NAME, "body").send_keys(Keys.ARROW_RIGHT)  # arrows still work
        assert label.text == "Epoch 2"
        assert shown_scalars(driver)["recall"] == f"{written[1].evaluation.recall:.4f}"
        assert shown_matrix(driver) == written[1].evaluation.confusion_matrix.tolist()

        screenshot = Image.open(io.BytesIO(driver.get_screenshot_as_png())).convert("L")
        low, high = screenshot.getextrema()
        assert high - low > 100  # not blank
        histogram = screenshot.histogram()
        assert max(histogram) < 0.97 * sum(histogram)
    finally:
        driver.quit()


class NeverDrawn:
    """`ChartRequests` of a drawer that never delivers (stalled, or its epoch dropped)."""

    def request(self, names, deliver) -> None:
        pass


class DrawnLater:
    """`ChartRequests` that keep `deliver` to call it later, as the drawing thread does."""

    def __init__(self, pngs: dict[str, bytes]) -> None:
        self.pngs = pngs
        self.pending: list = []

    def request(self, names, deliver) -> None:
        self.pending.append(lambda: deliver({name: self.pngs[name] for name in names}))


def test_page_is_written_at_each_epoch_and_asks_the_drawer_for_nothing(tmp_path):
    """The page draws its charts from the epoch's numbers: a drawer that is slow, stalled or
    never delivers cannot hold an epoch back, and none is drawn for the page."""
    path = tmp_path / "report.html"
    first, second = epochs("multiclass", 2)
    drawn = {name: first.evaluation.class_names[0].encode() for name in
             ("confusion_matrix", "roc_curve", "pr_curve")}
    later = DrawnLater(drawn)
    sink = HtmlReport(path)
    sink.open()
    sink.write(type(first)(first.epoch, first.evaluation, {}, later))
    assert later.pending == []  # nothing requested
    assert [item["epoch"] for item in page_data(path)["epochs"]] == [1]
    assert set(page_data(path)["epochs"][0]["charts"]) == set(drawn)
    sink.write(type(second)(second.epoch, second.evaluation, {}, NeverDrawn()))
    data = page_data(path)
    assert [item["epoch"] for item in data["epochs"]] == [1, 2]
    assert_matrix_cells(data["epochs"][1]["charts"]["confusion_matrix"], second.evaluation)
    sink.close()
    assert page_data(path) == data


def test_script_end_tags_in_class_names_cannot_end_the_data_early(tmp_path):
    from epoch_eval import evaluate
    from epoch_eval.sinks.base import EpochResult

    evaluation = evaluate([0, 1, 1, 0], [0.2, 0.9, 0.4, 0.6], class_names=["a</script>", "b"])
    write_run(tmp_path / "report.html", [EpochResult(1, evaluation, {}, NeverDrawn())])
    assert [row[0] for row in page_data(tmp_path / "report.html")["epochs"][0]["rows"]] == [
        "a</script>", "b"]


# --- Intervals, churn and the best threshold ----------------------------------------------

def trend_figures(path) -> dict[str, ElementTree.Element]:
    """Each metric-vs-epoch SVG of the page, parsed, by the name its label starts with."""
    page = path.read_text(encoding="utf-8")
    figures = re.findall(r"<figure class='trend'>(.*?)</figure>", page)
    svgs = [ElementTree.fromstring(figure) for figure in figures]
    return {svg.get("aria-label").split(":")[0]: svg for svg in svgs}


def xy(points: str) -> list[tuple[float, float]]:
    return [(float(x), float(y)) for x, y in (pair.split(",") for pair in points.split())]


def test_page_data_shows_intervals_churn_and_best_threshold(tmp_path):
    written = epochs("binary", 3, honest=True)
    write_run(tmp_path / "report.html", written)
    data = page_data(tmp_path / "report.html")
    for item, result in zip(data["epochs"], written, strict=True):
        evaluation = result.evaluation
        for name in SCALAR_NAMES:
            low, high = evaluation.intervals[name]
            assert item["scalars"][name] == (f"{getattr(evaluation, name):.4f} "
                                             f"[{low:.4f}, {high:.4f}]")
        assert item["confidence"] == "95%"
        assert item["scalars"]["best_threshold"] == f"{evaluation.best_threshold:.4f}"
        assert item["scalars"]["f1_at_best_threshold_heldout"] == (
            f"{evaluation.f1_at_best_threshold_heldout:.4f}")
        bands = evaluation.per_class_intervals["recall"]
        assert item["rows"][1][2] == (f"{evaluation.per_class.recall[1]:.4f} "
                                      f"[{bands[1][0]:.4f}, {bands[1][1]:.4f}]")
    assert "churn" not in data["epochs"][0]["scalars"]  # none at the first epoch
    assert data["epochs"][2]["scalars"]["churn"] == f"{written[2].evaluation.churn:.4f}"


def test_multiclass_page_has_no_best_threshold_and_plain_page_no_confidence(tmp_path):
    write_run(tmp_path / "honest.html", epochs("multiclass", 2, honest=True))
    scalars = page_data(tmp_path / "honest.html")["epochs"][1]["scalars"]
    assert set(scalars) == {*SCALAR_NAMES, "churn"}
    write_run(tmp_path / "plain.html", epochs("multiclass", 2))
    assert page_data(tmp_path / "plain.html")["epochs"][1]["confidence"] is None
    assert "class='band'" not in (tmp_path / "plain.html").read_text()
    assert "churn" not in trend_figures(tmp_path / "plain.html")


@pytest.mark.parametrize("task", ["binary", "multilabel"])
def test_each_trend_line_lies_inside_its_band(task, tmp_path):
    written = epochs(task, 4, honest=True)
    write_run(tmp_path / "report.html", written)
    figures = trend_figures(tmp_path / "report.html")
    for name in SCALAR_NAMES:
        svg = figures[name]
        band = xy(svg.find("polygon").get("points"))
        line = xy(svg.find("polyline").get("points"))
        assert len(band) == 2 * len(line) == 8
        top, bottom = band[:4], band[4:][::-1]  # SVG y grows downwards
        for (x, y), (x_top, y_top), (x_bottom, y_bottom) in zip(line, top, bottom, strict=True):
            assert x == x_top == x_bottom
            assert y_top < y < y_bottom, name
        assert svg.find("polygon/title").text == f"{name}: 95% interval"
    churn = figures["churn"]
    assert churn.find("polygon") is None  # churn has no interval
    values = [result.evaluation.churn for result in written[1:]]
    assert churn.get("aria-label") == f"churn: best {min(values):.4f} at epoch 2"
    assert len(xy(churn.find("polyline").get("points"))) == 3  # epochs 2 to 4


def test_bands_and_intervals_show_in_a_browser(tmp_path):
    written = epochs("binary", 4, honest=True)
    write_run(tmp_path / "report.html", written)
    write_run(tmp_path / "plain.html", epochs("binary", 4))
    driver = browser()
    from selenium.webdriver.common.by import By

    def light_blue_pixels(figure) -> int:
        """Pixels of the translucent band's colour (#1f77b4 at 20% on white)."""
        rgb = np.asarray(Image.open(io.BytesIO(figure.screenshot_as_png)).convert("RGB"))
        r, g, b = (rgb[..., k].astype(int) for k in range(3))
        band = (r >= 190) & (r <= 215) & (g >= 212) & (g <= 232) & (b >= 228) & (b <= 245)
        return int(band.sum())

    try:
        driver.get((tmp_path / "plain.html").as_uri())
        plain = light_blue_pixels(driver.find_elements(By.CSS_SELECTOR, "figure.trend")[0])
        assert driver.find_element(By.CSS_SELECTOR, "#scalars").text.find("intervals") < 0

        driver.get((tmp_path / "report.html").as_uri())
        last = written[-1].evaluation
        shown = shown_scalars(driver)
        low, high = last.intervals["f1"]
        assert shown["f1"] == f"{last.f1:.4f} [{low:.4f}, {high:.4f}]"
        assert shown["churn"] == f"{last.churn:.4f}"
        assert shown["best_threshold"] == f"{last.best_threshold:.4f}"
        assert shown["f1_at_best_threshold"] == f"{last.f1_at_best_threshold:.4f}"
        caption = driver.find_element(By.CSS_SELECTOR, "#scalars caption")
        assert caption.text == "[low, high]: 95% intervals"
        row = driver.find_elements(By.CSS_SELECTOR, "#per-class tr")[2]
        assert row.text.startswith(f"malignant {last.per_class.precision[1]:.4f} [")

        figure = driver.find_elements(By.CSS_SELECTOR, "figure.trend")[0]
        band = figure.find_element(By.CSS_SELECTOR, "polygon.band")
        # on screen (its points are in epoch and value units, placed by a transform)
        box = driver.execute_script("const b = arguments[0].getBoundingClientRect(); "
                                    "return [b.width, b.height];", band)
        assert box[0] > 200 and box[1] > 10  # spans the epochs, and has a height
        assert driver.execute_script(
            "return getComputedStyle(arguments[0]).fillOpacity", band) == "0.2"
        assert light_blue_pixels(figure) > 500 > plain  # drawn: the band is visible
        churn = [f for f in driver.find_elements(By.CSS_SELECTOR, "figure.trend svg")
                 if f.get_attribute("aria-label").startswith("churn:")]
        assert len(churn) == 1 and churn[0].find_element(By.TAG_NAME, "polyline")
    finally:
        driver.quit()


# --- Keras' own logs ----------------------------------------------------------------------

def test_keras_logs_get_lines_and_a_learning_rate_logged_later_joins_them(tmp_path):
    """Keras' values (not the keys epoch_eval's sinks added) get metric-vs-epoch lines; a
    `learning_rate` that a callback after the evaluator adds to `logs` joins at the next
    epoch (and the last epoch's at close)."""
    path = tmp_path / "report.html"
    written = epochs("multiclass", 2)
    sink = HtmlReport(path)
    sink.open()
    all_logs = []
    for result, loss in zip(written, (0.9, 0.4), strict=True):
        logs = {"loss": loss, "accuracy": 1 - loss, "val_f1": result.evaluation.f1}
        all_logs.append(logs)
        sink.write(type(result)(result.epoch, result.evaluation, logs,
                                keras_logs={"loss": loss, "accuracy": 1 - loss}))
        logs["learning_rate"] = 0.1 / result.epoch  # as ReduceLROnPlateau after the evaluator
    figures = trend_figures(path)
    assert "val_f1 (Keras)" not in figures and "f1" in figures
    assert figures["loss (Keras)"].get("aria-label") == "loss (Keras): best 0.4 at epoch 2"
    assert figures["accuracy (Keras)"].get("aria-label") == (
        "accuracy (Keras): best 0.6 at epoch 2")
    assert xy(figures["loss (Keras)"].find("polyline").get("points")) == [(1, -0.9), (2, -0.4)]
    assert xy(figures["learning_rate (Keras)"].find("polyline").get("points")) == [(1, -0.1)]
    assert page_data(path)["epochs"][1]["logs"] == {"loss": "0.4", "accuracy": "0.6"}
    sink.close()
    figures = trend_figures(path)
    assert xy(figures["learning_rate (Keras)"].find("polyline").get("points")) == [
        (1, -0.1), (2, -0.05)]
    assert figures["learning_rate (Keras)"].get("aria-label") == (
        "learning_rate (Keras): 0.05 at epoch 2")  # the latest, no "best"
    assert page_data(path)["epochs"][1]["logs"]["learning_rate"] == "0.05"


def test_trend_ticks_follow_values_beyond_the_unit_range(tmp_path):
    written = epochs("binary", 2)
    results = [type(r)(r.epoch, r.evaluation, {}, keras_logs={"loss": 1500.0 / r.epoch})
               for r in written]
    write_run(tmp_path / "report.html", results)
    svg = trend_figures(tmp_path / "report.html")["loss (Keras)"]
    ticks = [text.text for text in svg.findall("text[@class='tick']")]
    assert ticks[:2] == ["1,500", "750"]  # not "1500.00"


def test_kept_trend_points_follow_replaced_and_late_epochs(tmp_path):
    """The metric-vs-epoch points are kept between rewrites; an epoch written again (a later
    run's, as `python -m epoch_eval.report` may meet) or out of order gives the page a fresh
    sink writes from the final epochs."""
    one, two, three = epochs("multiclass", 3)
    other_two = type(two)(2, epochs("multiclass", 5)[4].evaluation, {})  # another seed
    sink = HtmlReport(tmp_path / "kept.html")
    sink.open()
    for result in (one, three, two, other_two):
        sink.write(result)
    sink.close()
    write_run(tmp_path / "fresh.html", [one, other_two, three])
    kept, fresh = trend_figures(tmp_path / "kept.html"), trend_figures(tmp_path / "fresh.html")
    assert kept.keys() == fresh.keys()
    for name in kept:
        assert ElementTree.tostring(kept[name]) == ElementTree.tostring(fresh[name]), name
    f1 = [-y for _, y in xy(kept["f1"].find("polyline").get("points"))]
    assert f1 == pytest.approx([r.evaluation.f1 for r in (one, other_two, three)], rel=1e-5)
