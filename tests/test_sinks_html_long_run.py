"""`HtmlReport` over a long run: 300 epochs at 10 classes stay small and every one browsable."""

from __future__ import annotations

import warnings

import pytest
from chart_evaluations import multiclass
from test_sinks_html_report import browser, page_data, shown_matrix, shown_scalars, trend_figures

from epoch_eval import HtmlReport
from epoch_eval.sinks.base import EpochResult

EPOCHS = 300
MAX_BYTES_PER_EPOCH = 50_000  # the bound the README states, at 10 classes


@pytest.fixture(scope="module")
def long_run(tmp_path_factory):
    """A page written by the sink from 300 evaluations (10 classes, 1,000 rows, each its own
    seed), and its sizes after 10 and 300 epochs."""
    path = tmp_path_factory.mktemp("long") / "report.html"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        evaluations = [multiclass(10, n=1000, seed=epoch) for epoch in range(1, EPOCHS + 1)]
    sink = HtmlReport(path)
    sink.open()
    sizes = {}
    for epoch, evaluation in enumerate(evaluations, start=1):
        loss = 2.0 / epoch
        sink.write(EpochResult(epoch, evaluation, {"loss": loss, "val_f1": evaluation.f1},
                               keras_logs={"loss": loss}))
        sizes[epoch] = path.stat().st_size
    sink.close()
    return path, evaluations, sizes


def test_300_epochs_grow_the_page_by_under_50_kb_an_epoch(long_run):
    path, evaluations, sizes = long_run
    assert sizes[EPOCHS] < EPOCHS * MAX_BYTES_PER_EPOCH
    assert (sizes[EPOCHS] - sizes[10]) / (EPOCHS - 10) < MAX_BYTES_PER_EPOCH
    data = page_data(path)
    assert [item["epoch"] for item in data["epochs"]] == list(range(1, EPOCHS + 1))
    assert data["epochs"][0]["charts"]["confusion_matrix"]["cells"] == (
        evaluations[0].confusion_matrix.tolist())
    loss = trend_figures(path)["loss (Keras)"]
    assert loss.get("aria-label") == f"loss (Keras): best {2.0 / EPOCHS:.4g} at epoch {EPOCHS}"
    assert len(loss.find("polyline").get("points").split()) == EPOCHS


def test_the_slider_reaches_epoch_1_and_300_in_a_browser(long_run):
    path, evaluations, _ = long_run
    driver = browser()
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    try:
        driver.get(path.as_uri())
        label = driver.find_element(By.ID, "epoch-label")
        assert label.text == f"Epoch {EPOCHS}"
        assert shown_scalars(driver)["f1"] == f"{evaluations[-1].f1:.4f}"
        assert shown_matrix(driver) == evaluations[-1].confusion_matrix.tolist()

        slider = driver.find_element(By.ID, "slider")
        slider.send_keys(Keys.HOME)
        assert label.text == "Epoch 1"
        assert shown_scalars(driver)["f1"] == f"{evaluations[0].f1:.4f}"
        assert shown_matrix(driver) == evaluations[0].confusion_matrix.tolist()
        chart = driver.find_element(By.ID, "chart-roc_curve")
        assert chart.get_attribute("aria-label") == "ROC at epoch 1"

        driver.find_element(By.TAG_NAME, "h1").click()  # the arrow keys, off the slider
        driver.find_element(By.TAG_NAME, "body").send_keys(Keys.ARROW_RIGHT)
        assert label.text == "Epoch 2"
        assert shown_matrix(driver) == evaluations[1].confusion_matrix.tolist()

        slider.send_keys(Keys.END)
        assert label.text == f"Epoch {EPOCHS}"
        assert shown_scalars(driver)["recall"] == f"{evaluations[-1].recall:.4f}"
    finally:
        driver.quit()
