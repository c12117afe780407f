"""GET /grids' live status from a live state on a fixed clock (the route called in-process).

three_in_a_row (P over A | B | C), interval 1 min. At t0 the state starts watching, with a
visit to A at t0 - 10 s:
  at t0:      A ok (last visit t0 - 10), B and C no_data, P ok (A's visit)
  at t0 + 61: A overdue since t0 - 10 + 60 = t0 + 50; B and C (never visited) overdue since
              the watch began + 60 s = t0 + 60; P overdue since the earliest: t0 + 50
"""

from __future__ import annotations

import datetime as dt
import json
from zoneinfo import ZoneInfo

import numpy as np

from api.config import ApiSettings
from api.context import ApiContext
from api.deps import Principal
from api.routes.grids import grid_body
from geofence.config import GeofenceSettings
from geofence.grids import check_grids
from patrol.grids import read_grids, save_grids
from patrol.updater import LiveUpdater
from tests.geofence.town import lonlat, three_in_a_row
from tracks.store import Store

T0 = 1_763_600_000.0
SETTINGS = GeofenceSettings(timezone="Asia/Shanghai")
ADMIN = Principal("local", "admin", None)


def grid_collection(
    context: ApiContext, principal: Principal, geometry: bool = True
) -> dict[str, object]:
    body: dict[str, object] = json.loads(grid_body(context, principal, geometry=geometry))
    return body


def iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, ZoneInfo("Asia/Shanghai")).isoformat()


def statuses(
    context: ApiContext, geometry: bool = True
) -> dict[str, tuple[str, str | None, str | None]]:
    body = grid_collection(context, ADMIN, geometry=geometry)
    features = body["features"]
    assert isinstance(features, list)
    return {
        f["id"]: (
            f["properties"]["status"],
            f["properties"]["last_visit"],
            f["properties"]["overdue_since"],
        )
        for f in features
    }


def test_status_follows_the_live_clock(tmp_path):
    now = [T0]
    with Store(tmp_path / "gp.db") as store:
        save_grids(store, check_grids(three_in_a_row(tmp_path / "g.geojson", interval_min=1))[0])
        grid_set = read_grids(store)
        assert grid_set is not None
        live = LiveUpdater(grid_set, SETTINGS, store, clock=lambda: now[0])
        context = ApiContext(
            store=store,
            grid_set=grid_set,
            live=live,
            geofence=SETTINGS,
            settings=ApiSettings(),
            tokens=None,
        )
        lon, lat = lonlat(-100, 0)
        live.state.apply_fixes(
            ["d1"],
            np.array([T0 - 10]),
            np.array([lon]),
            np.array([lat]),
            np.array([0], dtype=np.int32),
        )
        live.state.evaluate()
        assert statuses(context) == {
            "P": ("ok", iso(T0 - 10), None),
            "A": ("ok", iso(T0 - 10), None),
            "B": ("no_data", None, None),
            "C": ("no_data", None, None),
        }
        now[0] = T0 + 61
        live.state.evaluate()
        assert statuses(context) == {
            "P": ("overdue", iso(T0 - 10), iso(T0 + 50)),
            "A": ("overdue", iso(T0 - 10), iso(T0 + 50)),
            "B": ("overdue", None, iso(T0 + 60)),
            "C": ("overdue", None, iso(T0 + 60)),
        }
        # the map's refresh asks for the statuses only: the same, without the shapes
        assert statuses(context, geometry=False) == statuses(context)
        shapes = grid_collection(context, ADMIN, geometry=False)["features"]
        assert isinstance(shapes, list) and all(f["geometry"] is None for f in shapes)
        assert all(f["geometry"] for f in grid_collection(context, ADMIN)["features"])  # type: ignore[union-attr]
