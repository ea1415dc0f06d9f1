"""The operator page in headless Chromium while the sample clip flows edge -> cloud (fake model).

It must list the camera, play its live WebRTC view (frames decoded, per the page's own stats), show
timeline entries with loaded thumbnails and descriptions as they
arrive (server-sent events), hide entries a filter excludes and bring them back; it saves a
screenshot to benchmarks/results/operator_view.png.
"""
from pathlib import Path

import pytest

from tests.helpers.browser import CHROMIUM, DRIVER
from tests.helpers.browser import browser as _browser
from tests.helpers.browser import wait as _wait
from tests.helpers.operator_system import TOKEN, System

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT = ROOT / "benchmarks/results/operator_view.png"

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not (CHROMIUM and DRIVER), reason="needs Debian chromium and chromium-driver")]


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
            _wait(driver, lambda d: d.find_element(By.ID, "status").text == "live", what="the event stream to be open")

            # live view: the offer goes through the cloud API to the edge; the page's own stats count decoded frames
            driver.find_element(By.CSS_SELECTOR, "#cameras li[data-camera-id='cam-1'] button.watch").click()
            _wait(driver, lambda d: (d.execute_script("return window.vigilLiveStats()") or {}).get("cam-1", 0) > 5,
                  what="decoded live frames")
            _wait(driver, lambda d: d.execute_script("const v = document.getElementById('live-cam-1'); "
                                                     "return !v.paused && v.videoWidth > 0"), what="the video to play")
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
            # (an event already described: the newest may still be arriving, its images not stored yet)
            driver.execute_script("[...document.querySelectorAll('#timeline .event')].find(e => "
                                  "!(e.querySelector('.summary')?.textContent || 'describing').startsWith('describing'))"
                                  ".click()")
            _wait(driver, lambda d: d.execute_script(
                "return [...document.querySelectorAll('#detail img')].filter(i => i.naturalWidth > 0).length"),
                what="images in the event detail")

            # the viewer leaves: the edge releases its track
            driver.execute_script("stopLive('cam-1')")
            _wait(driver, lambda d: system.agent.live.viewers("cam-1") == 0, what="the edge to free the track")
        finally:
            driver.quit()
    assert SCREENSHOT.stat().st_size > 10_000
