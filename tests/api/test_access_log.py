"""The access log against a real serve: who read which track, export or backup, on record;
never a token."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from tests.api.conftest import Served

pytestmark = pytest.mark.broker


def _records(served: Served, since: str) -> list[dict[str, object]]:
    answer = served.get("/api/v1/access", served.admin, since=since)
    assert answer.status_code == 200, answer.text
    rows: list[dict[str, object]] = answer.json()
    return rows


def _wait_for_route(served: Served, since: str, route: str) -> list[dict[str, object]]:
    deadline = time.monotonic() + 30  # the recorder writes every second
    while time.monotonic() < deadline:
        rows = [r for r in _records(served, since) if r["route"] == route]
        if rows:
            return rows
        time.sleep(0.2)
    raise AssertionError(f"no access record of {route}")


def test_a_track_read_an_export_and_a_backup_are_on_record_with_the_token_name(served: Served):
    since = dt.datetime.now(dt.UTC).isoformat()
    window = {"start": served.start, "end": served.end}
    track = served.get("/api/v1/devices/d2/track", served.supervisor, format="csv", **window)
    assert track.status_code == 200, track.text
    refused = served.get("/api/v1/devices/d1/track", served.supervisor, **window)
    assert refused.status_code == 403
    export = served.get("/api/v1/reports/all.xlsx", served.supervisor, **window)
    assert export.status_code == 200, export.text
    assert served.get("/api/v1/backup", served.admin).status_code == 200

    tracks = _wait_for_route(served, since, "/api/v1/devices/{device_id}/track")
    assert {(r["token"], r["status"]) for r in tracks} == {("Zhao", 200), ("Zhao", 403)}
    read = next(r for r in tracks if r["status"] == 200)
    assert read["role"] == "supervisor" and read["method"] == "GET" and read["client"]
    assert "d2" in str(read["params"]) and "csv" in str(read["params"])
    exports = _wait_for_route(served, since, "/api/v1/reports/{kind}.xlsx")
    assert [(r["token"], r["status"]) for r in exports] == [("Zhao", 200)]
    backups = _wait_for_route(served, since, "/api/v1/backup")
    assert [(r["token"], r["status"]) for r in backups] == [("ops", 200)]

    everything = str(_records(served, "2000-01-01T00:00:00+00:00"))
    for token in (served.admin, served.supervisor):
        assert token not in everything and token[-12:] not in everything


def test_only_admins_read_the_access_log(served: Served):
    answer = served.get("/api/v1/access", served.supervisor, since="2000-01-01T00:00:00+00:00")
    assert answer.status_code == 403
    assert served.get("/api/v1/access").status_code == 401
