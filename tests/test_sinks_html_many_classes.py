"""`HtmlReport` at many classes: the most confused pairs, and a per-class table sorted by a
click on its headers that opens with the worst classes first beyond 30 classes."""

from __future__ import annotations

import math
import warnings

import pytest
from chart_evaluations import multiclass
from test_sinks_html_report import browser, page_data, write_run

from epoch_eval import EpochResult


def evaluation_of(n_classes: int):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return multiclass(n_classes, n=20 * n_classes, seed=4)


def test_page_data_has_the_top_confused_pairs(tmp_path):
    evaluation = evaluation_of(40)
    write_run(tmp_path / "report.html", [EpochResult(1, evaluation, {})])
    pairs = page_data(tmp_path / "report.html")["epochs"][0]["pairs"]
    assert pairs == [[p.true, p.predicted, f"{p.count:g}", f"{p.rate:.1%}"]
                     for p in evaluation.confused_pairs(10)]
    assert len(pairs) == 10


def column(driver, index: int) -> list[str]:
    from selenium.webdriver.common.by import By

    return [row.find_elements(By.TAG_NAME, "td")[index].text
            for row in driver.find_elements(By.CSS_SELECTOR, "#per-class tr")[1:]]


def as_numbers(values: list[str]) -> list[float]:
    return [float(v.split()[0]) for v in values]


@pytest.mark.parametrize("n_classes", [5, 40])
def test_per_class_table_sorts_by_any_header_in_a_browser(n_classes, tmp_path):
    evaluation = evaluation_of(n_classes)
    write_run(tmp_path / "report.html", [EpochResult(1, evaluation, {})])
    driver = browser()
    from selenium.webdriver.common.by import By

    try:
        driver.get((tmp_path / "report.html").as_uri())
        names = column(driver, 0)
        f1 = as_numbers(column(driver, 3))
        if n_classes > 30:  # worst first
            assert f1 == sorted(f1)
            header = driver.find_element(By.CSS_SELECTOR, "#per-class th[data-column='f1']")
            assert header.get_attribute("aria-sort") == "ascending"
        else:  # class order
            assert names == list(evaluation.class_names)
        support = driver.find_element(By.CSS_SELECTOR, "#per-class th[data-column='support']")
        support.click()
        assert as_numbers(column(driver, 4)) == sorted(as_numbers(column(driver, 4)))
        driver.find_element(By.CSS_SELECTOR, "#per-class th[data-column='support']").click()
        values = as_numbers(column(driver, 4))
        assert values == sorted(values, reverse=True)
        driver.find_element(By.CSS_SELECTOR, "#per-class th[data-column='class']").click()
        assert column(driver, 0) == sorted(evaluation.class_names)
        auc = driver.find_element(By.CSS_SELECTOR, "#per-class th[data-column='roc_auc']")
        auc.click()
        values = [float("nan") if v == "-" or v == "nan" else float(v)
                  for v in column(driver, 5)]
        finite = [v for v in values if not math.isnan(v)]
        assert values[:len(finite)] == sorted(finite)  # nan last
        rows = driver.find_elements(By.CSS_SELECTOR, "#confused-pairs tr")
        pairs = evaluation.confused_pairs(10)
        assert len(rows) == 1 + len(pairs)
        assert rows[1].text.split() == [pairs[0].true, pairs[0].predicted, f"{pairs[0].count:g}",
                                        f"{pairs[0].rate:.1%}"]
    finally:
        driver.quit()
