"""The live map at district scale in a real headless Chromium: 1,652 irregular grids under 17
districts (1,669 paths), 2,000 devices each with a ping through the broker, in Chinese first.

Alerts come from two kinds of grid and device: 500 devices' only fix is 15 minutes old,
older than ``offline_after_s`` (600 s), so each is reported offline at the first tick (a
burst of 500 device_offline alerts); five grids have an interval of 0.1 min, so they fall
overdue 6 s after their device's fix, and so do their districts. The alert list groups them
by kind (one line with its count each), then by district.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
import shapely
from playwright.sync_api import Page
from playwright.sync_api import TimeoutError as PlaywrightTimeout

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
OFFLINE = [f"dev-{i:04d}" for i in range(500)]  # fixes 15 min old
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
    where: dict[str, tuple[float, float]]  # each device's first fix (lon, lat)


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
        where_by_id = {f"dev-{i:04d}": p for i, p in enumerate(where)}
        yield District(f"http://127.0.0.1:{port}", service, where_by_id)


def top_area(district: District, device_id: str) -> str:
    """The district (the top of the tree) of a device's assigned grid."""
    grid_set = district.service.grid_set
    row = district.service.store.read_one(
        "SELECT grid_id FROM devices WHERE device_id = ?", [device_id]
    )
    assert row is not None
    grid = grid_set.by_id[row[0]]
    while grid.parent is not None:
        grid = grid_set.by_id[grid.parent]
    return str(grid.id)


def wait_for_groups(page: Page, counts: dict[str, int], timeout: float = 30000) -> None:
    """Until the alert list's group of each kind shows this count."""
    check = " && ".join(
        f"document.querySelector('#alerts li.group.{kind} > .head .count')?.textContent === '{n}'"
        for kind, n in counts.items()
    )
    page.wait_for_function(f"() => {check}", timeout=timeout)


def open_group(page: Page, head: str, shows: str) -> None:
    """Click a group's head until what it holds shows: the live list is drawn again as alerts
    come (each grid's due_soon, overdue and the prompt's end arrive in turn), and a click that
    lands on a head being replaced opens nothing."""
    for _ in range(5):
        if page.locator(shows).count() == 0:
            page.click(head)
        try:
            page.wait_for_selector(shows, timeout=2000)
            return
        except PlaywrightTimeout:
            continue
    raise AssertionError(f"{shows} never showed after clicking {head}")


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

        # Chinese by default; the alerts grouped by kind: one line per kind with its count
        assert page.inner_text("aside h2 >> nth=2") == "告警"
        assert "个网格" in page.inner_text("#summary")
        n = len(QUICK)
        wait_for_groups(
            page,
            {"device_offline": len(OFFLINE), "overdue": n, "due_soon": n, "due_soon_ended": n},
        )
        heads = page.eval_on_selector_all(
            "#alerts > li",
            """items => items.map(li => ({
            text: li.textContent, marker: getComputedStyle(li).listStyleType,
            list: li.parentElement.tagName}))""",
        )
        # four kinds, however many alerts: each grid gone overdue was prompted first (due_soon,
        # 即将超时) and its prompt ended when it fell overdue (due_soon_ended)
        kinds = page.eval_on_selector_all(
            "#alerts > li.group", "items => items.map(li => li.className)"
        )
        assert sorted(k.split()[1] for k in kinds) == [
            "device_offline",
            "due_soon",
            "due_soon_ended",
            "overdue",
        ]
        assert len(heads) == 4
        assert {(i["marker"], i["list"]) for i in heads} == {("none", "UL")}
        assert "设备离线" in page.inner_text("#alerts li.group.device_offline > .head")
        # opened: a count per district, adding up; a district opened: its alerts
        open_group(
            page,
            "#alerts li.group.device_offline > .head",
            "#alerts li.group.device_offline li.area",
        )
        areas = page.eval_on_selector_all(
            "#alerts li.group.device_offline li.area",
            "items => items.map(li => [li.dataset.area, +li.querySelector('.count').textContent])",
        )
        assert len(areas) > 1 and sum(n for _, n in areas) == len(OFFLINE)
        area = top_area(district, OFFLINE[3])
        assert area in dict(areas)
        open_group(
            page,
            f"#alerts li.group.device_offline li.area[data-area='{area}'] > .head",
            f"#alerts li.area[data-area='{area}'] li.alert.device_offline",
        )
        # one of the area's alerts (they were raised at one moment: which 100 are the newest
        # is a tie), with its worker and detail
        offline = page.inner_text(f"#alerts li.area[data-area='{area}'] li.alert >> nth=0")
        device = next(d for d in OFFLINE if d in offline)
        i = OFFLINE.index(device)
        assert "设备离线" in offline and worker_name(i) in offline and "600 秒无定位" in offline
        listed = page.locator("#alerts li.alert.device_offline").count()
        assert listed == min(dict(areas)[area], 100)  # the newest 100; the rest counted
        if dict(areas)[area] > 100:
            assert page.inner_text("#alerts .more") == f"另有 {dict(areas)[area] - 100} 条"
        page.screenshot(path=str(ARTIFACTS / "map-district.png"))
        # filtered by kind: the overdue grids alone
        page.select_option("#alert-kind", "overdue")
        assert page.locator("#alerts > li").count() == 1
        open_group(page, "#alerts li.group.overdue > .head", "#alerts li.group.overdue li.area")
        open_group(page, "#alerts li.group.overdue li.area >> nth=0", "#alerts li.alert.overdue")
        assert "超时未巡" in page.inner_text("#alerts li.alert.overdue >> nth=0")
        page.select_option("#alert-kind", "")
        # filtered by area: the offline devices of one district, counted
        page.select_option("#alert-area", area)
        count = page.inner_text("#alerts li.group.device_offline > .head .count")
        assert count == str(dict(areas)[area])
        page.select_option("#alert-area", "")
        assert page.locator("#alerts > li").count() == 4  # every kind again

        # zoom by button and by wheel, pan by dragging: only the viewBox moves
        home = view_box(page)
        page.click("#zoom-in")
        page.wait_for_function(
            f"() => +document.getElementById('map').viewBox.baseVal.width < {home[2]}",
            polling=100,  # by time: frames may not come while headless
        )
        zoomed = page.evaluate("() => view")  # the view the wheel zooms from
        page.mouse.move(600, 450)
        page.mouse.wheel(0, 300)
        page.wait_for_function(
            f"() => document.getElementById('map').viewBox.baseVal.width > {zoomed[2] * 1.2}",
            polling=100,  # by time: frames may not come while headless
        )
        before = view_box(page)
        page.mouse.move(600, 450)
        page.mouse.down()
        page.mouse.move(700, 500, steps=5)
        page.mouse.up()
        page.wait_for_function(
            f"() => document.getElementById('map').viewBox.baseVal.x < {before[0]}",
            polling=100,  # by time: frames may not come while headless
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
        assert "device offline" in page.inner_text("#alerts li.group.device_offline > .head")
        page.reload()
        page.wait_for_function(f"() => document.querySelectorAll('path.grid').length === {LEAVES}")
        assert page.inner_text("aside h2 >> nth=2") == "Alerts"
        assert "grids" in page.inner_text("#summary")
        page.click("#lang")
        assert page.inner_text("aside h2 >> nth=2") == "告警"
    assert not errors, errors


def test_an_acknowledgement_shows_on_another_screen_within_a_second(district: District):
    with chromium_page() as (page, errors):
        other = page.context.browser.new_page(viewport={"width": 1600, "height": 900})
        other.on("pageerror", lambda exc: errors.append(str(exc)))
        for screen in (page, other):
            screen.goto(district.url + "/")
            wait_for_groups(screen, {"overdue": len(QUICK)})
        # screen 2 shows how many overdue alerts are open (not acknowledged)
        assert other.locator("#alerts li.group.overdue > .head .open").count() == 0
        open_group(page, "#alerts li.group.overdue > .head", "#alerts li.group.overdue li.area")
        area = page.get_attribute("#alerts li.group.overdue li.area >> nth=0", "data-area")
        open_group(
            page,
            f"#alerts li.group.overdue li.area[data-area='{area}'] > .head",
            "#alerts li.alert.overdue",
        )
        item = page.locator("#alerts li.alert.overdue").first
        alert_id = item.get_attribute("data-alert")
        item.locator("button.ack").click()
        page.fill("#alerts .ack-form .note", "已派人前往")
        clicked = time.monotonic()
        page.click("#alerts .ack-form button[type=submit]")
        other.wait_for_function(
            "() => document.querySelector('#alerts li.group.overdue > .head .open')"
            f"?.textContent === '{len(QUICK) - 1} 条未确认'",
            timeout=5000,
        )
        took = time.monotonic() - clicked
        assert took < 1.0, took
        page.wait_for_selector(f"#alerts li.alert.acked[data-alert='{alert_id}']")
        assert "已派人前往" in page.inner_text(f"#alerts li.alert[data-alert='{alert_id}']")
        # screen 2 opened: the alert acknowledged, by whom and with the note
        other.click("#alerts li.group.overdue > .head")
        other.click(f"#alerts li.group.overdue li.area[data-area='{area}'] > .head")
        shown = other.inner_text(f"#alerts li.alert.acked[data-alert='{alert_id}'] .ack-by")
        assert "local" in shown and "已派人前往" in shown
        page.screenshot(path=str(ARTIFACTS / "map-district-ack.png"))
        # on the API too, and a reload shows it acknowledged
        alerts = httpx.get(district.url + "/api/v1/alerts", timeout=30).json()
        assert [a["ack"]["note"] for a in alerts if a["alert_id"] == alert_id] == ["已派人前往"]
    assert not errors, errors


def test_a_fix_through_the_broker_is_on_the_map_within_a_second(district: District, broker):
    """Timed from the publish, which comes before the commit: what it shows is an upper
    bound of the commit-to-screen latency."""
    device = "dev-1500"
    with chromium_page() as (page, errors):
        page.goto(district.url + "/")
        page.wait_for_function(
            f"() => document.querySelectorAll('circle.device').length === {DEVICES}"
        )
        time.sleep(1.0)  # the live stream open and read (it opens after the first lists)
        circle = f"circle.device[data-device='{device}']"
        before = page.get_attribute(circle, "cx")
        lon, lat = district.where[device]
        fix = {"ts": time.time(), "lat": lat + 0.0009, "lon": lon}  # 100 m north
        sent = time.monotonic()
        publish_all(broker, [(f"gridpatrol/v1/ping/{device}", json.dumps(fix).encode())])
        page.wait_for_function(
            f"() => document.querySelector(\"{circle}\").getAttribute('cx') !== '{before}'"
            f" || document.querySelector(\"{circle}\").getAttribute('cy') !== "
            f"'{page.get_attribute(circle, 'cy')}'",
            timeout=5000,
        )
        took = time.monotonic() - sent
        assert took < 1.0, took
    assert not errors, errors
