"""The live map at district scale in a real headless Chromium: 1,652 irregular grids under 17
districts (1,669 paths), 2,000 devices each with a ping through the broker, in Chinese first.

Alerts come from two kinds of grid and device: ten devices' only fix is 15 minutes old, older
than ``offline_after_s`` (600 s), so each is reported offline at the first tick; five grids
have an interval of 0.1 min, so they fall overdue 6 s after their device's fix, and so do
their districts.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import shapely
from playwright.sync_api import Page

from geofence.config import GeofenceSettings
from geofence.generate import irregular_town
from gridpatrol.broker import Mosquitto, free_port
from gridpatrol.compose import IngestProcess
from gridpatrol.roles import ServeOptions
from ingest.config import IngestSettings
from patrol.config import LiveSettings
from tests.api.browser import ARTIFACTS, chromium_page
from tests.mqtt_helpers import publish_all, running, wait_for

pytestmark = pytest.mark.broker

LEAVES, DISTRICTS, DEVICES = 1652, 17, 2000
OFFLINE = [f"dev-{i:04d}" for i in range(10)]  # fixes 15 min old
QUICK = [f"G{n:03d}" for n in range(100, 105)]  # interval 0.1 min
SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"
GIVEN = "伟芳娜敏静丽强磊军洋"


def worker_name(i: int) -> str:
    """2,000 distinct names: surname, then two given characters."""
    return SURNAMES[i // 100] + GIVEN[i // 10 % 10] + GIVEN[i % 10]


@dataclass
class District:
    url: str
    service: IngestProcess


@pytest.fixture(scope="module")
def district(broker: Mosquitto, tmp_path_factory: pytest.TempPathFactory) -> Iterator[District]:
    folder = tmp_path_factory.mktemp("district")
    fc = irregular_town(
        117.16, 39.06, grids=LEAVES, areas=DISTRICTS, radius_m=2842.0, service_hours=None
    )
    leaves = [f for f in fc["features"] if "parent" in f["properties"]]
    for f in leaves:
        if f["properties"]["id"] in QUICK:
            f["properties"]["interval_min"] = 0.1
    grids = folder / "grids.geojson"
    grids.write_text(json.dumps(fc))
    rows = ["device_id,kind,worker,grid_id"]
    where = []
    for i in range(DEVICES):
        leaf = leaves[i % len(leaves)]
        rows.append(f"dev-{i:04d},phone,{worker_name(i)},{leaf['properties']['id']}")
        point = shapely.geometry.shape(leaf["geometry"]).point_on_surface()
        where.append((point.x, point.y))
    devices = folder / "devices.csv"
    devices.write_text("\n".join(rows) + "\n")
    port = free_port()
    ingest = IngestSettings(
        broker=broker.url,
        client_id=f"district-{uuid.uuid4().hex[:6]}",
        session_expiry_s=5,
        batch_age_ms=50,
    )
    options = ServeOptions(
        db=folder / "gp.db", grids=grids, devices=devices, http=f"127.0.0.1:{port}"
    )
    service = IngestProcess(options, ingest, GeofenceSettings(), live=LiveSettings(tick_s=0.2))
    with running(service):  # serve in a thread, stopped (flush, commit, ack) at the end
        assert service.http is not None
        wait_for(service.http.started, what="the API to listen")
        now = time.time()
        # the device id is a level of the topic, so each device's ping is a message of its own
        publish_all(
            broker,
            [
                (
                    f"gridpatrol/v1/ping/dev-{i:04d}",
                    json.dumps(
                        {"ts": now - (900 if i < len(OFFLINE) else 0), "lat": lat, "lon": lon}
                    ).encode(),
                )
                for i, (lon, lat) in enumerate(where)
            ],
        )
        wait_for(
            lambda: (
                service.store.cursor().execute("SELECT count(*) FROM pings").fetchone()[0]
                == DEVICES
            ),
            what=f"{DEVICES} pings stored",
        )
        yield District(f"http://127.0.0.1:{port}", service)


def view_box(page: Page) -> list[float]:
    return [float(v) for v in page.get_attribute("#map", "viewBox").split()]


def search(page: Page, text: str) -> None:
    page.fill("#search", text)
    page.wait_for_selector("#search-results li")
    page.press("#search", "Enter")


def test_district_map(district: District):
    with chromium_page() as (page, errors):
        page.goto(district.url + "/")
        page.wait_for_function(f"() => document.querySelectorAll('path.grid').length === {LEAVES}")
        assert page.locator("path.parent").count() == DISTRICTS
        page.wait_for_function(
            f"() => document.querySelectorAll('circle.device').length === {DEVICES}"
        )

        # Chinese by default, alerts as a plain list: time, kind, subject, detail
        assert page.inner_text("aside h2 >> nth=2") == "告警"
        assert "个网格" in page.inner_text("#summary")
        page.wait_for_function(
            f"() => document.querySelectorAll('#alerts li.device_offline').length === {len(OFFLINE)}"
            f" && document.querySelectorAll('#alerts li.overdue').length === {len(QUICK)}",
            timeout=20000,
        )
        items = page.eval_on_selector_all(
            "#alerts li",
            """items => items.map(li => ({
            text: li.textContent, marker: getComputedStyle(li).listStyleType,
            list: li.parentElement.tagName}))""",
        )
        assert len(items) >= 15
        assert {(i["marker"], i["list"]) for i in items} == {("none", "UL")}
        offline = page.inner_text(f"#alerts li.device_offline:has-text('{OFFLINE[3]}')")
        assert "设备离线" in offline and worker_name(3) in offline and "600 秒无定位" in offline
        assert "超时未巡" in page.inner_text(f"#alerts li.overdue:has-text('{QUICK[0]}')")
        page.screenshot(path=str(ARTIFACTS / "map-district.png"))

        # zoom by button and by wheel, pan by dragging: only the viewBox moves
        home = view_box(page)
        page.click("#zoom-in")
        page.wait_for_function(
            f"() => +document.getElementById('map').viewBox.baseVal.width < {home[2]}"
        )
        zoomed = view_box(page)
        page.mouse.move(600, 450)
        page.mouse.wheel(0, 300)
        page.wait_for_function(
            f"() => document.getElementById('map').viewBox.baseVal.width > {zoomed[2] * 1.2}"
        )
        before = view_box(page)
        page.mouse.move(600, 450)
        page.mouse.down()
        page.mouse.move(700, 500, steps=5)
        page.mouse.up()
        page.wait_for_function(
            f"() => document.getElementById('map').viewBox.baseVal.x < {before[0]}"
        )
        assert view_box(page)[2] == pytest.approx(before[2])

        # search: a grid by id, then a worker by name; each is centred and highlighted
        page.click("#zoom-all")
        search(page, "G1234")
        page.wait_for_selector("path.grid.selected[data-grid='G1234']")
        page.wait_for_selector("#grid-panel table")
        assert view_box(page)[2] < home[2] / 2
        page.screenshot(path=str(ARTIFACTS / "map-district-search.png"))
        search(page, worker_name(1234))
        found = page.wait_for_selector("circle.device.found")
        assert found.get_attribute("data-device") == "dev-1234"
        page.wait_for_function(
            f"() => document.getElementById('grid-panel').textContent.includes('{worker_name(1234)}')"
        )

        # districts: the leaves fold into 17 parents, overdue where a leaf is
        page.click("#zoom-all")
        page.check("#districts")
        assert page.locator("path.grid").first.is_hidden()
        assert page.locator("path.parent:visible").count() == DISTRICTS
        assert page.locator("#labels text:visible").count() == DISTRICTS
        quick = district.service.grid_set.by_id[QUICK[0]]
        page.wait_for_selector(f"path.parent.overdue[data-grid='{quick.parent}']")
        page.screenshot(path=str(ARTIFACTS / "map-district-parents.png"))
        page.uncheck("#districts")

        # English one click away, kept across a reload
        page.click("#lang")
        assert page.inner_text("aside h2 >> nth=2") == "Alerts"
        assert "device offline" in page.inner_text("#alerts li.device_offline >> nth=0")
        page.reload()
        page.wait_for_function(f"() => document.querySelectorAll('path.grid').length === {LEAVES}")
        assert page.inner_text("aside h2 >> nth=2") == "Alerts"
        assert "grids" in page.inner_text("#summary")
        page.click("#lang")
        assert page.inner_text("aside h2 >> nth=2") == "告警"
    assert not errors, errors
