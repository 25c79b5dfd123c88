"""The web page at / in headless Chromium: upload or paste a log, press Analyze, read the analysis; a bad key shows 401."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from serve_fakes import FAILING_LOG, KEY, live_server

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = "/usr/bin/chromedriver"

pytestmark = [
    pytest.mark.skipif(CHROMIUM is None or not Path(CHROMEDRIVER).exists(),
                       reason="needs chromium and /usr/bin/chromedriver: apt-get install -y chromium chromium-driver"),
    pytest.mark.timeout(120),
]


@pytest.fixture()
def browser(tmp_path):
    webdriver = pytest.importorskip("selenium.webdriver", reason="needs selenium: pip install selenium")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                 f"--user-data-dir={tmp_path / 'profile'}"]:
        opts.add_argument(flag)
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def _wait_for_status(driver, expected: str) -> str:
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 20).until(lambda d: expected in d.find_element("id", "status").text)
    return driver.find_element("id", "status").text


def test_upload_a_log_and_read_the_analysis(browser, tmp_path):
    log = tmp_path / "build.log"
    log.write_text(FAILING_LOG)
    with live_server(api_key=KEY) as (url, _, gen):
        browser.get(url + "/")
        assert "CI failure analyzer" in browser.title
        browser.find_element("id", "file").send_keys(str(log))  # what choosing the file in the dialog does
        _wait_for_status(browser, "loaded build.log")
        assert "ModuleNotFoundError" in browser.find_element("id", "log").get_property("value")
        browser.find_element("id", "key").send_keys(KEY)
        browser.find_element("id", "analyze").click()
        _wait_for_status(browser, "done")
        assert browser.find_element("id", "result").is_displayed()
        assert browser.find_element("id", "category").text == "dependency"
        assert browser.find_element("id", "root-cause").text.startswith("pandas is not installed. The log says: ")
        assert browser.find_element("id", "fix").text == "Add pandas to requirements.txt."
        assert "No module named 'pandas'" in browser.find_element("id", "evidence").text
        assert len(gen.prompts) == 1


def test_pasted_log_with_a_wrong_key_shows_the_error(browser):
    with live_server(api_key=KEY) as (url, _, gen):
        browser.get(url + "/")
        browser.find_element("id", "log").send_keys("ERROR: build failed with exit code 2")
        browser.find_element("id", "key").send_keys("not-the-key-000000")
        browser.find_element("id", "analyze").click()
        text = _wait_for_status(browser, "error 401")
        assert "API key" in text and not browser.find_element("id", "result").is_displayed()
        assert gen.prompts == []
