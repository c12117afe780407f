"""The live map in a real headless Chromium: grids render, a live alert appears."""

from __future__ import annotations

import json
import time

import pytest

from tests.api.browser import ARTIFACTS, chromium_page
from tests.api.conftest import Served
from tests.geofence.town import lonlat
from tests.mqtt_helpers import publish_all, wait_for

pytestmark = pytest.mark.broker


def test_map_draws_grids_and_shows_a_live_alert(served: Served, broker):
    with chromium_page() as (page, errors):
        page.add_init_script(f"sessionStorage.setItem('gridpatrol-token', '{served.admin}')")
        page.goto(served.url + "/")
        page.wait_for_function("() => document.querySelectorAll('path.grid').length === 3")
        page.wait_for_function("() => document.querySelectorAll('circle.device').length === 2")
        assert served.service.http is not None
        hub = served.service.http.context.hub
        wait_for(lambda: hub.clients() > 0, what="the map's alert stream to connect")
        live = served.service.live
        assert live is not None
        # C's last fix is 110 s old at start and its interval is 1 min: overdue on the map
        wait_for(lambda: "C" in live.snapshot().overdue, what="C overdue")
        page.wait_for_selector("path.grid.overdue[data-grid='C']")
        lon, lat = lonlat(100, 0)  # a visit to C now: the 'cleared' alert comes live
        publish_all(
            broker,
            [
                (
                    "gridpatrol/v1/ping/d2",
                    json.dumps({"ts": time.time(), "lat": lat, "lon": lon}).encode(),
                )
            ],
        )
        page.wait_for_selector("#alerts li.group.cleared", timeout=10000)
        page.click("#alerts li.group.cleared > .head")  # the kind's group, then the area's
        page.click("#alerts li.group.cleared li.area[data-area='P'] > .head")
        page.wait_for_function(
            "() => [...document.querySelectorAll('#alerts li.alert.cleared')]"
            ".some(li => li.textContent.includes(' C '))",
            timeout=10000,
        )
        page.wait_for_selector("path.grid.ok[data-grid='C']")
        page.click("path.grid[data-grid='A']")
        page.wait_for_selector("#grid-panel table")
        page.screenshot(path=str(ARTIFACTS / "map.png"))
    assert not errors, errors
