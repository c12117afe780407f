"""Every endpoint against a real serve: roles, scope, the error shape, export formats."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import json
import re
import threading
import time
import zipfile
from zoneinfo import ZoneInfo

import gpxpy
import httpx
import polars as pl
import pytest

from api.tokens import add_token, revoke_token
from patrol.derive import ReportGrids
from patrol.scorecard import run_scorecard
from tests.api.conftest import Served
from tests.geofence.town import lonlat
from tests.mqtt_helpers import publish_all, wait_for

pytestmark = pytest.mark.broker

ERROR_KEYS = {"status", "code", "message"}


def assert_error(response: httpx.Response, status: int, code: str, fragment: str = "") -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == ERROR_KEYS
    assert body["error"]["status"] == status and body["error"]["code"] == code
    assert fragment in body["error"]["message"]


def test_missing_and_wrong_tokens_get_401_in_the_one_error_shape(served: Served):
    assert_error(served.get("/api/v1/grids"), 401, "unauthorized", "missing bearer token")
    assert_error(served.get("/api/v1/grids", "gp_not-a-token"), 401, "unauthorized", "unknown")


def test_bad_parameters_get_422_saying_which_and_why(served: Served):
    a = served.admin
    assert_error(
        served.get("/api/v1/compliance", a, start="yesterday", end=served.end),
        422,
        "invalid_parameter",
        "start: 'yesterday' is not an ISO 8601 time",
    )
    assert_error(
        served.get("/api/v1/compliance", a, start=served.end, end=served.start),
        422,
        "invalid_parameter",
        "end: must be after start",
    )
    assert_error(
        served.get(
            "/api/v1/compliance",
            a,
            start="2026-01-01T00:00:00+08:00",
            end="2026-06-01T00:00:00+08:00",
        ),
        422,
        "invalid_parameter",
        "exceeds the maximum of 31 days",
    )
    assert_error(
        served.get("/api/v1/compliance", a, start="2026-01-01T00:00:00", end=served.end),
        422,
        "invalid_parameter",
        "needs a UTC offset",
    )
    assert_error(
        served.get("/api/v1/compliance", a, end=served.end), 422, "invalid_parameter", "start"
    )
    assert_error(
        served.get(
            "/api/v1/compliance",
            a,
            start="0001-01-01T00:00:00+08:00",
            end="0001-01-02T00:00:00+08:00",
        ),
        422,
        "invalid_parameter",
        "out of range",
    )
    assert_error(served.get("/api/v1/nowhere", a), 404, "not_found")


def test_grids_carry_live_status_and_supervisors_see_their_subtree(served: Served):
    fc = served.get("/api/v1/grids", served.admin).json()
    props = {f["properties"]["id"]: f["properties"] for f in fc["features"]}
    assert set(props) == {"P", "A", "B", "C"}
    assert props["A"]["last_visit"] is not None and props["A"]["is_leaf"]
    assert props["P"]["parent"] is None and props["A"]["parent"] == "P"
    # B's status (no_data until its interval passes, then overdue) is pinned with a fixed
    # clock in tests/api/test_grids.py
    assert props["A"]["interval_min"] == 1
    scoped = served.get("/api/v1/grids", served.supervisor).json()
    assert [f["id"] for f in scoped["features"]] == ["C"]


def test_devices_list_is_scoped(served: Served):
    devices = {d["device_id"]: d for d in served.get("/api/v1/devices", served.admin).json()}
    assert devices["d1"]["assigned_grid"] == "A" and devices["d1"]["current_grid"] == "A"
    assert devices["d1"]["online"] is True and devices["d2"]["worker"] == "Wang Fang"
    scoped = served.get("/api/v1/devices", served.supervisor).json()
    assert [d["device_id"] for d in scoped] == ["d2"]


def test_track_exports_open_in_their_readers(served: Served):
    window = {"start": served.start, "end": served.end}
    gj = served.get("/api/v1/devices/d1/track", served.admin, **window).json()
    assert gj["geometry"]["type"] == "LineString" and len(gj["geometry"]["coordinates"]) == 50
    gpx = gpxpy.parse(
        served.get("/api/v1/devices/d1/track", served.admin, format="gpx", **window).text
    )
    assert len(gpx.tracks[0].segments[0].points) == 50
    parquet = served.get("/api/v1/devices/d1/track", served.admin, format="parquet", **window)
    frame = pl.read_parquet(io.BytesIO(parquet.content))
    assert frame.height == 50 and frame["device_id"].unique().to_list() == ["d1"]
    csv = served.get("/api/v1/devices/d1/track", served.admin, format="csv", **window)
    assert pl.read_csv(io.StringIO(csv.text)).height == 50
    assert_error(
        served.get("/api/v1/devices/d1/track", served.supervisor, **window),
        403,
        "forbidden",
        "outside your grids",
    )
    assert_error(
        served.get("/api/v1/devices/ghost/track", served.admin, **window), 404, "not_found"
    )


def test_reports_match_the_cli_keys_and_respect_scope(served: Served):
    window = {"start": served.start, "end": served.end}
    rows = served.get("/api/v1/compliance", served.admin, **window).json()
    assert [r["grid_id"] for r in rows] == ["A", "B", "C", "P"]
    assert set(rows[0]) == {
        "grid_id",
        "visits",
        "max_gap_s",
        "overdue_s",
        "compliance",
        "violations",
    }
    assert rows[0]["visits"] == 50
    cov = served.get("/api/v1/coverage", served.admin, grid_id="A", **window).json()
    assert cov[0]["covered"] > 0 and set(cov[0]) == {"grid_id", "cells", "covered", "coverage"}
    per_device = served.get("/api/v1/coverage", served.admin, device_id="d2", **window).json()
    assert per_device[0]["device_id"] == "d2" and per_device[0]["grid_id"] == "C"
    presence = served.get("/api/v1/presence", served.admin, **window).json()
    assert {(r["device_id"], r["presence"]) for r in presence} == {("d1", 1.0), ("d2", 1.0)}
    scoped = served.get("/api/v1/compliance", served.supervisor, **window).json()
    assert [r["grid_id"] for r in scoped] == ["C"]
    assert_error(
        served.get("/api/v1/compliance", served.supervisor, grid_id="A", **window), 403, "forbidden"
    )
    assert_error(
        served.get("/api/v1/coverage", served.admin, grid_id="Z", **window), 404, "not_found"
    )


def test_scorecard_is_the_cli_code_path_with_its_numbers(served: Served):
    """The numbers are worked out by hand in tests/patrol/test_scorecard.py; here the API
    must give the rows of patrol.scorecard for the service day of d1's last fix (110 s
    ago: every fix of d1 is inside A, so its presence is 1)."""
    live = served.service.live
    assert live is not None
    tz = ZoneInfo(live.settings.timezone)
    day = dt.datetime.fromtimestamp(served.last_fix, tz).date()
    rows = served.get("/api/v1/scorecard", served.admin, date=day.isoformat()).json()
    assert rows == run_scorecard(
        ReportGrids(served.service.store, live.grid_set), served.service.store, day, live.settings
    )
    by_device = {r["device_id"]: r for r in rows}
    assert set(by_device) == {"d1", "d2"}
    assert by_device["d1"]["worker"] == "Li Wei" and by_device["d1"]["presence"] == 1.0
    assert served.get("/api/v1/scorecard", served.supervisor, date=day.isoformat()).json() == [
        by_device["d2"]
    ]
    assert_error(
        served.get("/api/v1/scorecard", served.admin, date="not-a-date"),
        422,
        "invalid_parameter",
        "date",
    )


def test_stats_health_and_metrics(served: Served):
    stats = served.get("/api/v1/stats", served.admin).json()
    assert set(stats) == {"received", "stored", "duplicates", "rejected"}
    assert stats["stored"] >= 100
    health = served.get("/api/v1/health")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    metrics = served.get("/api/v1/metrics", served.admin).text
    assert "gridpatrol_pings_stored_total" in metrics and "gridpatrol_grids_overdue" in metrics


def test_metrics_count_the_rejected_pings_of_the_worst_devices(served: Served, broker):
    """A device sending junk is named in /metrics (ingest/rejections.py bounds the labels)."""
    junk = b"[" + b",".join([b"0"] * 2000) + b"]"  # an array over the limit: 2,000 pings
    publish_all(broker, [("gridpatrol/v1/ping/junk-1", junk), ("gridpatrol/v1/ping/d2", b"{}")])
    line = 'gridpatrol_device_rejected_total{device="junk-1"} 2000.0'

    def shown() -> str:
        return served.get("/api/v1/metrics", served.admin).text

    metrics = wait_for(lambda: (text := shown()) and line in text and text, what=line)
    assert 'gridpatrol_device_rejected_total{device="d2"} 1.0' in metrics


def test_alerts_history_and_live_stream(served: Served, broker):
    live = served.service.live
    assert live is not None
    # A's last fix is 110 s old at start and its interval is 1 min: overdue, in the history
    wait_for(lambda: "A" in live.snapshot().overdue, what="A overdue")
    history = served.get("/api/v1/alerts", served.admin).json()
    assert any(a["kind"] == "overdue" and a["grid_id"] == "A" for a in history)
    scoped = served.get("/api/v1/alerts", served.supervisor).json()
    # the supervisor of C sees C's alerts and its devices' only: C is overdue too by now
    wait_for(lambda: "C" in live.snapshot().overdue, what="C overdue")
    scoped = served.get("/api/v1/alerts", served.supervisor).json()
    assert {a["grid_id"] for a in scoped if a["kind"] == "overdue"} == {"C"}
    history = served.get("/api/v1/alerts", served.admin).json()
    assert {a["grid_id"] for a in history if a["kind"] == "overdue"} >= {"A", "C"}
    cleared: list[dict] = []
    ready = threading.Event()

    def listen() -> None:
        headers = {"Authorization": f"Bearer {served.admin}"}
        with httpx.stream(
            "GET", served.url + "/api/v1/alerts/stream", headers=headers, timeout=30
        ) as response:
            for line in response.iter_lines():
                ready.set()
                if line.startswith("data: "):
                    alert = json.loads(line[6:])
                    if alert["kind"] == "cleared":
                        cleared.append(alert)
                        return

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    assert ready.wait(10)
    lon, lat = lonlat(-100, 0)  # a visit to A now
    publish_all(
        broker,
        [
            (
                "gridpatrol/v1/ping/d1",
                json.dumps({"ts": time.time(), "lat": lat, "lon": lon}).encode(),
            )
        ],
    )
    thread.join(15)
    assert cleared and cleared[0]["grid_id"] == "A"


def test_the_alert_stream_sends_its_first_line_at_once(
    served: Served, monkeypatch: pytest.MonkeyPatch
):
    """A client counts the stream as open at its first line: a comment sent as the stream
    opens (subscribed by then), not the first keep-alive, here ten minutes away."""
    assert served.service.http is not None
    context = served.service.http.context
    monkeypatch.setattr(
        context, "settings", dataclasses.replace(context.settings, sse_keepalive_s=600.0)
    )
    headers = {"Authorization": f"Bearer {served.admin}"}
    began = time.monotonic()
    with httpx.stream(
        "GET",
        served.url + "/api/v1/alerts/stream",
        headers=headers,
        timeout=httpx.Timeout(10, read=30),  # a read timeout fails the test
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        first = next(response.iter_lines())
    assert time.monotonic() - began < 30
    assert first.startswith(":"), first  # a comment: EventSource and other clients skip it


def test_token_changes_apply_without_restart(served: Served):
    entry, token = add_token(served.tokens, "supervisor", ["A"], "new")
    wait_for(
        lambda: served.get("/api/v1/grids", token).status_code == 200,
        timeout_s=10,
        what="the new token accepted",
    )
    revoke_token(served.tokens, entry.id)
    wait_for(
        lambda: served.get("/api/v1/grids", token).status_code == 401,
        timeout_s=10,
        what="the revoked token refused",
    )


@pytest.mark.parametrize(
    "evil", ["' OR 1=1 --", "A'; DROP TABLE pings; --", "x" * 5000, "%00", "\\u0000", "<script>"]
)
def test_injection_and_oversized_parameters_never_crash(served: Served, evil: str):
    a = served.admin
    window = {"start": served.start, "end": served.end}
    # an unknown id is 404, unless longer than an id may be (422); a time or a device path
    # that is not one is 422
    unknown = 422 if len(evil) > 128 else 404
    for response, status in (
        (served.get("/api/v1/compliance", a, grid_id=evil, **window), unknown),
        (
            served.get("/api/v1/coverage", a, device_id=evil, **window),
            422 if len(evil) > 64 else 404,
        ),
        (served.get("/api/v1/compliance", a, start=evil, end=served.end), 422),
        (served.get("/api/v1/alerts", a, since=evil), 422),
        (served.get(f"/api/v1/devices/{evil}/track", a, **window), 422),
    ):
        assert response.status_code == status, (response.status_code, response.text)
        assert set(response.json()) == {"error"}
    assert served.get("/api/v1/stats", a).json()["stored"] >= 100  # the table is still there


def test_reports_as_a_workbook_scoped_by_token(served: Served):
    def strings(token: str) -> tuple[list[str], str]:
        r = served.get("/api/v1/reports/all.xlsx", token, start=served.start, end=served.end)
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("application/vnd.openxmlformats")
        assert r.headers["content-disposition"].startswith('attachment; filename="all-')
        with zipfile.ZipFile(io.BytesIO(r.content)) as z:
            names = re.findall(r'<sheet name="([^"]+)"', z.read("xl/workbook.xml").decode())
            return names, z.read("xl/sharedStrings.xml").decode()

    names, admin = strings(served.admin)
    assert names == [
        "合规率",
        "覆盖率（网格）",
        "覆盖率（网格员）",
        "到位率",
        "每日考核",
        "考核汇总",
    ]
    _, supervisor = strings(served.supervisor)
    assert ">d1<" in admin and ">d2<" in admin  # d1 is assigned A, d2 C
    assert ">d1<" not in supervisor and ">d2<" in supervisor  # only C's rows
    wrong = served.get(
        "/api/v1/reports/nothing.xlsx", served.admin, start=served.start, end=served.end
    )
    assert wrong.status_code == 422 and set(wrong.json()) == {"error"}
