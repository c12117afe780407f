"""An SOS on the live map in a real headless Chromium: its own red line in the alert list
and the tracker's marker marked at once, both until the SOS ends; a screenshot of it."""

from __future__ import annotations

import json
import time

import pytest

from geofence.alerts import Alert, AlertKind
from tests.api.browser import ARTIFACTS, chromium_page
from tests.api.conftest import Served
from tests.geofence.town import lonlat
from tests.mqtt_helpers import publish_all, wait_for

pytestmark = pytest.mark.broker


def test_an_sos_is_shown_at_once_and_cleared_when_it_ends(served: Served, broker):
    lon, lat = lonlat(-100, 0)

    def ping(alarm: int) -> tuple[str, bytes]:
        body = {"ts": time.time(), "lat": lat, "lon": lon, "alarm": alarm, "sat": 9}
        return "gridpatrol/v1/ping/d1", json.dumps(body).encode()

    with chromium_page() as (page, errors):
        page.add_init_script(f"sessionStorage.setItem('gridpatrol-token', '{served.admin}')")
        page.add_init_script("localStorage.setItem('gridpatrol-lang', 'en')")
        page.goto(served.url + "/")
        page.wait_for_function("() => document.querySelectorAll('circle.device').length === 2")
        assert served.service.http is not None
        hub = served.service.http.context.hub
        wait_for(lambda: hub.clients() > 0, what="the map's alert stream to connect")
        publish_all(broker, [ping(0x101)])  # SOS (bit 0) and main power cut (bit 8)
        page.wait_for_selector("#alerts li.alarm_sos", timeout=10000)
        page.wait_for_selector("circle.device[data-device='d1'][data-sos]")
        assert page.locator("#alerts li.alarm_power_cut").count() == 1  # a line of its own
        colour = page.eval_on_selector(
            "#alerts li.alarm_sos", "li => getComputedStyle(li).backgroundColor"
        )
        assert colour == "rgb(192, 57, 43)"
        page.screenshot(path=str(ARTIFACTS / "map-sos.png"))
        time.sleep(0.01)  # the next fix a little later
        publish_all(broker, [ping(0)])
        page.wait_for_selector("#alerts li.alarm_sos_ended", timeout=10000)
        page.wait_for_selector("circle.device[data-device='d1']:not([data-sos])")
    assert not errors, errors


def test_a_due_soon_marks_the_worker_it_names(served: Served):
    """A due_soon (预警) names the nearest worker on shift (its device_id): the map marks that
    worker's marker until the prompt ends. Published through serve's alert hub, as the live
    updater publishes it."""
    at = time.time()
    prompt = Alert(AlertKind.DUE_SOON, at, at, grid_id="A", device_id="d1", detail="d1 120 m")
    ended = Alert(AlertKind.DUE_SOON_ENDED, at + 1, at + 1, grid_id="A", device_id="d1")
    with chromium_page() as (page, errors):
        page.add_init_script(f"sessionStorage.setItem('gridpatrol-token', '{served.admin}')")
        page.goto(served.url + "/")
        page.wait_for_function("() => document.querySelectorAll('circle.device').length === 2")
        assert served.service.http is not None
        hub = served.service.http.context.hub
        wait_for(lambda: hub.clients() > 0, what="the map's alert stream to connect")
        hub.publish(prompt)
        page.wait_for_selector("circle.device[data-device='d1'][data-suggested]", timeout=10000)
        hub.publish(ended)
        page.wait_for_selector("circle.device[data-device='d1']:not([data-suggested])")
    assert not errors, errors
