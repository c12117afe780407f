"""GET /devices from live state and the polls' cached bytes (ETag, 304), in-process: a real
DuckDB file, a live updater on a fixed clock, FastAPI's test client.

three_in_a_row (P over A | B | C); the registry: d1 in A, d2 in C, idle in B (never heard
from). The supervisor's token sees C only, so d2 only.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from api.app import create_app
from api.config import ApiSettings
from api.context import ApiContext
from api.tokens import TokenFile, add_token
from geofence.config import GeofenceSettings
from geofence.grids import check_grids
from patrol.config import LiveSettings
from patrol.grids import read_grids, save_grids
from patrol.updater import LiveUpdater
from tests.geofence.town import lonlat, three_in_a_row
from tracks.queries import import_devices
from tracks.store import Store

# 2026-12: starlette 1.x warns that its test client prefers httpx2 (not in the lock); the
# client works on httpx, as every other test's does
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

T0 = 1_763_600_000.0  # 2025-11-20 08:53:20 +08:00
SETTINGS = GeofenceSettings(timezone="Asia/Shanghai")


@dataclass
class App:
    client: TestClient
    live: LiveUpdater
    now: list[float]
    admin: str
    supervisor: str

    def get(self, path: str, token: str, etag: str | None = None) -> object:
        headers = {"Authorization": f"Bearer {token}"}
        if etag is not None:
            headers["If-None-Match"] = etag
        return self.client.get(path, headers=headers)

    def fix(self, device: str, ts: float, x: float, grid: str | None) -> None:
        """A committed fix at x metres along the row (A: x < -40, B, C: x > 40)."""
        lon, lat = lonlat(x, 0)
        leaf = -1 if grid is None else self.live.grid_set.ids.index(grid)
        self.live.state.apply_fixes(
            [device], np.array([ts]), np.array([lon]), np.array([lat]), np.array([leaf], np.int32)
        )


@pytest.fixture
def app(tmp_path: Path) -> Iterator[App]:
    now = [T0]
    with Store(tmp_path / "gp.db") as store:
        save_grids(store, check_grids(three_in_a_row(tmp_path / "g.geojson", interval_min=1))[0])
        devices = tmp_path / "devices.csv"
        devices.write_text(
            "device_id,kind,worker,grid_id\nd1,tracker,Li,A\nd2,phone,Wang,C\nidle,phone,Zhao,B\n"
        )
        import_devices(store, devices)
        grid_set = read_grids(store)
        assert grid_set is not None
        live = LiveUpdater(
            grid_set, SETTINGS, store, LiveSettings(offline_after_s=600), clock=lambda: now[0]
        )
        tokens = tmp_path / "tokens.jsonl"
        _, admin = add_token(tokens, "admin", [], "ops")
        _, supervisor = add_token(tokens, "supervisor", ["C"], "Zhao")
        context = ApiContext(
            store=store,
            grid_set=grid_set,
            live=live,
            geofence=SETTINGS,
            settings=ApiSettings(),
            tokens=TokenFile(tokens, 60.0),
        )
        with TestClient(create_app(context)) as client:
            yield App(client, live, now, admin, supervisor)


def test_devices_come_from_live_state_joined_with_the_registry(app: App):
    app.fix("d1", T0 - 30, -100, "A")
    app.fix("stray", T0 - 20, 500, None)  # unregistered, outside every grid
    body = app.get("/api/v1/devices", app.admin).json()  # type: ignore[attr-defined]
    by_id = {d["device_id"]: d for d in body}
    assert [d["device_id"] for d in body] == ["d1", "d2", "idle", "stray"]
    d1 = by_id["d1"]
    lon, lat = lonlat(-100, 0)
    assert d1["lat"] == lat and d1["lon"] == lon and d1["online"] is True
    assert d1["last_seen"] == "2025-11-20T08:52:50+08:00"
    assert d1["current_grid"] == "A" and d1["assigned_grid"] == "A"
    assert by_id["idle"] == {
        "device_id": "idle",
        "kind": "phone",
        "worker": "Zhao",
        "assigned_grid": "B",
        "last_seen": None,
        "lat": None,
        "lon": None,
        "current_grid": None,
        "online": False,
    }
    assert by_id["stray"]["kind"] is None and by_id["stray"]["current_grid"] is None


def test_a_silent_device_keeps_its_last_fix(app: App):
    app.fix("d1", T0 - 30, -100, "A")
    before = app.get("/api/v1/devices", app.admin)
    app.now[0] = T0 + 3600  # an hour of silence: offline, at its last fix
    app.live.tick()
    assert "d1" in app.live.snapshot().offline
    after = app.get("/api/v1/devices", app.admin)
    d1_before = next(d for d in before.json() if d["device_id"] == "d1")  # type: ignore[attr-defined]
    d1_after = next(d for d in after.json() if d["device_id"] == "d1")  # type: ignore[attr-defined]
    assert d1_after == d1_before | {"online": False}
    assert after.headers["etag"] != before.headers["etag"]  # type: ignore[attr-defined]


def test_polls_answer_304_until_a_new_fix_changes_the_etag(app: App):
    app.fix("d2", T0 - 30, 100, "C")
    for path in ("/api/v1/devices", "/api/v1/grids?geometry=false"):
        first = app.get(path, app.admin)
        etag = first.headers["etag"]  # type: ignore[attr-defined]
        again = app.get(path, app.admin, etag)
        assert again.status_code == 304 and again.content == b"", path  # type: ignore[attr-defined]
        assert again.headers["etag"] == etag  # type: ignore[attr-defined]
        assert app.get(path, app.admin, f'"other", {etag}').status_code == 304  # type: ignore[attr-defined]
        assert app.get(path, app.admin, '"other"').status_code == 200  # type: ignore[attr-defined]
    devices = app.get("/api/v1/devices", app.admin)
    grids = app.get("/api/v1/grids?geometry=false", app.admin)
    app.fix("d2", T0 - 10, 110, "C")  # a new fix: a new snapshot, new bytes, a new tag
    for path, old in (("/api/v1/devices", devices), ("/api/v1/grids?geometry=false", grids)):
        new = app.get(path, app.admin, old.headers["etag"])  # type: ignore[attr-defined]
        assert new.status_code == 200, path  # type: ignore[attr-defined]
        assert new.headers["etag"] != old.headers["etag"]  # type: ignore[attr-defined]
    got = app.get("/api/v1/devices", app.admin).json()  # type: ignore[attr-defined]
    assert next(d for d in got if d["device_id"] == "d2")["lon"] == lonlat(110, 0)[0]


def test_a_scoped_token_sees_only_its_grids_devices_with_its_own_etag(app: App):
    app.fix("d1", T0 - 30, -100, "A")
    app.fix("d2", T0 - 30, 100, "C")
    scoped = app.get("/api/v1/devices", app.supervisor)
    assert [d["device_id"] for d in scoped.json()] == ["d2"]  # type: ignore[attr-defined]
    admin = app.get("/api/v1/devices", app.admin)
    assert scoped.headers["etag"] != admin.headers["etag"]  # type: ignore[attr-defined]
    # the admin's bytes are not the supervisor's: its tag is no match in the other scope
    assert app.get("/api/v1/devices", app.supervisor, admin.headers["etag"]).status_code == 200  # type: ignore[attr-defined]
    cached = app.get("/api/v1/devices", app.supervisor, scoped.headers["etag"])  # type: ignore[attr-defined]
    assert cached.status_code == 304  # type: ignore[attr-defined]
    grids = app.get("/api/v1/grids?geometry=false", app.supervisor).json()  # type: ignore[attr-defined]
    assert [f["id"] for f in grids["features"]] == ["C"]
