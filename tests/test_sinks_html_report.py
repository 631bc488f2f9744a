"""`HtmlReport`: the page's data, its atomic rewrites, and the page in a real headless browser."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
from pathlib import Path

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
            assert set(item["images"]) == {"confusion_matrix", "roc_curve", "pr_curve"}
        else:
            assert item["images"] == {} and item["undefined"]
    page = (tmp_path / "report.html").read_text()
    assert f"<dd>{written[-1].evaluation.task}</dd>" in page
    assert f"<dd>{written[-1].evaluation.n_samples}</dd>" in page


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
        image = driver.find_element(By.ID, "chart-confusion_matrix")
        assert image.get_attribute("alt") == "Confusion matrix at epoch 1"
        assert driver.execute_script("return arguments[0].naturalWidth", image) > 100

        driver.find_element(By.TAG_NAME, "h1").click()  # focus off the slider:
        driver.find_element(By.TAG_NAME, "body").send_keys(Keys.ARROW_RIGHT)  # arrows still work
        assert label.text == "Epoch 2"
        assert shown_scalars(driver)["recall"] == f"{written[1].evaluation.recall:.4f}"

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


def test_page_is_written_when_the_charts_arrive_and_at_close_without_them(tmp_path):
    path = tmp_path / "report.html"
    first, second = epochs("multiclass", 2)
    drawn = {name: first.evaluation.class_names[0].encode() for name in
             ("confusion_matrix", "roc_curve", "pr_curve")}
    later = DrawnLater(drawn)
    sink = HtmlReport(path)
    sink.open()
    sink.write(type(first)(first.epoch, first.evaluation, {}, later))
    assert not path.exists()  # written once the charts arrive, not twice
    later.pending.pop()()
    assert [item["epoch"] for item in page_data(path)["epochs"]] == [1]
    assert set(page_data(path)["epochs"][0]["images"]) == set(drawn)
    sink.write(type(second)(second.epoch, second.evaluation, {}, NeverDrawn()))
    assert [item["epoch"] for item in page_data(path)["epochs"]] == [1]
    sink.close()  # the charts of epoch 2 never came: the page still gets the epoch
    data = page_data(path)
    assert [item["epoch"] for item in data["epochs"]] == [1, 2]
    assert data["epochs"][1]["images"] == {}


def test_script_end_tags_in_class_names_cannot_end_the_data_early(tmp_path):
    from epoch_eval import evaluate
    from epoch_eval.sinks.base import EpochResult

    evaluation = evaluate([0, 1, 1, 0], [0.2, 0.9, 0.4, 0.6], class_names=["a</script>", "b"])
    write_run(tmp_path / "report.html", [EpochResult(1, evaluation, {}, NeverDrawn())])
    assert [row[0] for row in page_data(tmp_path / "report.html")["epochs"][0]["rows"]] == [
        "a</script>", "b"]
