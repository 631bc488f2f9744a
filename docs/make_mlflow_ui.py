"""Make docs/mlflow_ui.png: a real fit logged by `MlflowLogs` into a SQLite store, shown by a
real `mlflow server` in headless Chromium (the run's step-indexed chart images and their step
slider). Needs the `test` extra (full MLflow, Selenium) and Debian's chromium and
chromium-driver.

    python docs/make_mlflow_ui.py docs/mlflow_ui.png
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # this checkout

import keras
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from epoch_eval import EpochEvaluator, HistoryLogs, MlflowLogs

EPOCHS = 6


def fit(uri: str) -> str:
    """A 6-epoch digits fit logged into `uri`; the run's id."""
    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype("float32")
    x_train, x_val, y_train, y_val = train_test_split(x, y, test_size=0.25, random_state=0,
                                                      stratify=y)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile(keras.optimizers.SGD(0.05), "sparse_categorical_crossentropy")
    sink = MlflowLogs(tracking_uri=uri)
    model.fit(x_train, y_train, epochs=EPOCHS, batch_size=64, verbose=0,
              callbacks=[EpochEvaluator((x_val, y_val), sinks=[HistoryLogs(), sink])])
    assert sink.last_run_id is not None
    return sink.last_run_id


def serve(folder: str, uri: str) -> tuple[subprocess.Popen, str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
         "--backend-store-uri", uri, "--workers", "1"],
        cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2):
                return server, url
        except OSError:
            time.sleep(0.3)
    os.killpg(server.pid, signal.SIGKILL)
    raise RuntimeError("mlflow server did not answer in 120 s")


def screenshot(url: str, run_id: str, output: str) -> None:
    from PIL import Image
    from selenium import webdriver
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu",
                     "--window-size=1400,1000", "--hide-scrollbars"):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(
        executable_path=shutil.which("chromedriver")))
    try:
        driver.get(f"{url}/#/experiments/0/runs/{run_id}/model-metrics")
        WebDriverWait(driver, 90).until(
            lambda d: d.find_elements(By.CSS_SELECTOR, "[role=slider]"))
        driver.execute_script(  # the assistant's side panel: closed
            "document.querySelectorAll('button[aria-label]').forEach(b => "
            "{ if (/close/i.test(b.getAttribute('aria-label'))) b.click(); })")
        search = driver.find_element(By.CSS_SELECTOR, "input[placeholder*='Search metric']")
        search.send_keys("curve")  # the image charts only
        WebDriverWait(driver, 30).until(
            lambda d: len(d.find_elements(By.CSS_SELECTOR, "input[type=number]")) == 3)
        last = str(EPOCHS - 1)
        for box in driver.find_elements(By.CSS_SELECTOR, "input[type=number]"):
            box.send_keys(Keys.CONTROL, "a")  # each chart's slider at the last step
            box.send_keys(last, Keys.ENTER)
        driver.execute_script("document.activeElement.blur()")
        WebDriverWait(driver, 30).until(lambda d: all(
            slider.get_attribute("aria-valuenow") == last
            for slider in d.find_elements(By.CSS_SELECTOR, "[role=slider]")))
        time.sleep(3)  # the images of that step load
        driver.save_screenshot(output)
    finally:
        driver.quit()
    with Image.open(output) as page:  # the cards, without the empty page below them
        page.crop((0, 0, page.width, 640)).save(output)


def main(output: str) -> None:
    folder = tempfile.mkdtemp(prefix="epoch_eval_mlflow_ui_")
    uri = f"sqlite:///{folder}/mlflow.db"
    run_id = fit(uri)
    server, url = serve(folder, uri)
    try:
        screenshot(url, run_id, os.path.abspath(output))
    finally:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=30)
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "mlflow_ui.png")
