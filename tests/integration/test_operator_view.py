"""The operator page in headless Chromium while the sample clip flows edge -> cloud (fake model).

It must list the camera, show timeline entries with loaded thumbnails and descriptions as they
arrive (server-sent events), hide entries a filter excludes and bring them back; it saves a
screenshot to benchmarks/results/operator_view.png.
"""
import asyncio
import shutil
import threading
import time
from pathlib import Path

import pytest

from cloud.config import load_cloud_config
from cloud.server import CloudService
from edge.agent import EdgeAgent
from edge.config import load_edge_config
from tests.helpers.cloud_fakes import FakeEngine

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT = ROOT / "benchmarks/results/operator_view.png"
TOKEN = "selenium-operator-token"
CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not (CHROMIUM and DRIVER), reason="needs Debian chromium and chromium-driver")]


class System:
    """Cloud + edge on a background event loop, so the browser can be driven from the test thread."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    async def _start(self):
        cfg = load_cloud_config(environ={}, overrides={
            "server": {"host": "127.0.0.1", "port": 0}, "alerts": {"dead_letter_path": None},
            "api": {"host": "127.0.0.1", "port": 0, "tokens": [TOKEN]}, "store": {"path": None}})
        self.cloud = CloudService(cfg, engine=FakeEngine(delay=0.3), sinks=[])
        port = await self.cloud.start()
        edge = load_edge_config(environ={}, overrides={
            "cameras": [{"id": "cam-1", "name": "Bikes", "url": "sample:bikes.mp4", "fps": 5}],
            "cloud": {"target": f"127.0.0.1:{port}", "results_grace_s": 5}})
        self.agent = EdgeAgent(edge)
        self.run = asyncio.ensure_future(self.agent.run())
        return self.cloud.api.port

    def __enter__(self):
        self.thread.start()
        self.api_port = asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(30)
        return self

    async def _stop(self):
        self.agent.stop()
        await asyncio.wait_for(self.run, 30)
        await self.cloud.stop()

    def __exit__(self, *exc):
        asyncio.run_coroutine_threadsafe(self._stop(), self.loop).result(60)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


def _browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1400,900"):
        opts.add_argument(arg)
    return webdriver.Chrome(service=Service(DRIVER), options=opts)


def _wait(driver, condition, timeout_s=60, what="condition"):
    end = time.time() + timeout_s
    while time.time() < end:
        value = condition(driver)
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


LOADED_THUMBS = """return [...document.querySelectorAll('#timeline .event img.thumb')]
                   .filter(i => i.complete && i.naturalWidth > 0).length"""
ENTRY_TEXTS = "return [...document.querySelectorAll('#timeline .event')].map(e => e.textContent)"
DESCRIBED = """return [...document.querySelectorAll('#timeline .event .summary')]
               .filter(e => e.textContent && !e.textContent.startsWith('describing')).length"""


def test_operator_page_shows_live_events_with_thumbnails_and_filters():
    from selenium.webdriver.common.by import By
    with System() as system:
        driver = _browser()
        try:
            driver.get(f"http://127.0.0.1:{system.api_port}/?token={TOKEN}")
            _wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#cameras li[data-camera-id='cam-1']"),
                  what="the camera in the list")
            # entries arrive over the event stream while the clip plays (the page loaded before most events)
            _wait(driver, lambda d: d.execute_script(LOADED_THUMBS) >= 2, what="two entries with loaded thumbnails")
            _wait(driver, lambda d: d.execute_script(DESCRIBED) >= 1, what="a description in the timeline")
            assert driver.find_element(By.ID, "status").text == "live"
            driver.save_screenshot(str(SCREENSHOT))

            # a filter that matches nothing empties the timeline; the camera filter brings entries back
            driver.find_element(By.ID, "filter-label").send_keys("no-such-label")
            driver.find_element(By.ID, "apply-filters").click()
            _wait(driver, lambda d: not d.find_elements(By.CSS_SELECTOR, "#timeline .event"), what="an empty timeline")
            driver.find_element(By.ID, "filter-label").clear()
            driver.find_element(By.CSS_SELECTOR, "#filter-camera option[value='cam-1']").click()
            driver.find_element(By.ID, "apply-filters").click()
            # entries are re-rendered as their stages arrive, so they are read and clicked in the page
            texts = _wait(driver, lambda d: d.execute_script(ENTRY_TEXTS), what="entries back after filtering by camera")
            assert all("cam-1" in t for t in texts)

            # the detail of an event shows its evidence images
            driver.execute_script("document.querySelector('#timeline .event').click()")
            _wait(driver, lambda d: d.execute_script(
                "return [...document.querySelectorAll('#detail img')].filter(i => i.naturalWidth > 0).length"),
                what="images in the event detail")
        finally:
            driver.quit()
    assert SCREENSHOT.stat().st_size > 10_000
