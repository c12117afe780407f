"""The live map in a real headless Chromium: grids render, a live alert appears."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from tests.api.conftest import Served
from tests.geofence.town import lonlat
from tests.mqtt_helpers import publish_all, wait_for

pytestmark = pytest.mark.broker

CHROMIUM = os.environ.get("GRIDPATROL_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip


def test_map_draws_grids_and_shows_a_live_alert(served: Served, broker):
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"the browser test needs Chromium at {CHROMIUM} (Debian: apt-get install chromium)"
        )
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1600, "height": 900})
        page.add_init_script(f"sessionStorage.setItem('gridpatrol-token', '{served.admin}')")
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(served.url + "/")
        page.wait_for_function("document.querySelectorAll('path.grid').length === 3")
        page.wait_for_function("document.querySelectorAll('circle.device').length === 2")
        assert served.service.http is not None
        hub = served.service.http.context.hub
        wait_for(lambda: hub.clients() > 0, what="the map's alert stream to connect")
        live = served.service.live
        assert live is not None
        # C's last fix is 110 s old at start and its interval is 1 min: overdue on the map
        wait_for(lambda: "C" in live.snapshot().overdue, what="C overdue")
        page.wait_for_selector("path.grid.overdue[data-grid='C']")
        lon, lat = lonlat(100, 0)  # a visit to C now: the 'cleared' alert comes live
        publish_all(broker, [("gridpatrol/v1/ping/d2",
                              json.dumps({"ts": time.time(), "lat": lat, "lon": lon}).encode())])  # fmt: skip
        page.wait_for_function(
            "[...document.querySelectorAll('#alerts li.cleared')].some(li => li.textContent.includes(' C '))",
            timeout=10000,
        )  # fmt: skip
        page.wait_for_selector("path.grid.ok[data-grid='C']")
        page.click("path.grid[data-grid='A']")
        page.wait_for_selector("#grid-panel table")
        page.screenshot(path=str(ARTIFACTS / "map.png"))
        browser.close()
    assert not errors, errors
