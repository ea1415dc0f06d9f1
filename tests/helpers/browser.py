"""Headless Chromium for the operator page tests (Debian's chromium and chromium-driver)."""
import shutil
import time

CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")


def browser(width: int = 1400, height: int = 900):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                f"--window-size={width},{height}"):
        opts.add_argument(arg)
    return webdriver.Chrome(service=Service(DRIVER), options=opts)


def wait(driver, condition, timeout_s=60, what="condition"):
    from selenium.common.exceptions import StaleElementReferenceException
    end = time.time() + timeout_s
    while time.time() < end:
        try:
            value = condition(driver)
        except StaleElementReferenceException:   # the page re-rendered the element between find and read
            value = None
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}; page text: {driver.find_element('tag name', 'body').text[:500]!r}")
