"""Track downloads in the datum the reader's map needs: ``&datum=gcj02`` for Amap,
``bd09`` for Baidu; WGS-84 (as stored) by default, in every format."""

from __future__ import annotations

import io

import gpxpy
import numpy as np
import polars as pl
import pytest

from base.datum import Datum, from_wgs84
from tests.api.conftest import Served

pytestmark = pytest.mark.broker


def test_track_exports_take_a_datum(served: Served):
    window = {"start": served.start, "end": served.end}
    url = "/api/v1/devices/d1/track"
    stored = served.get(url, served.admin, **window).json()["geometry"]["coordinates"]
    lon, lat = np.array(stored).T
    for datum in (Datum.GCJ02, Datum.BD09):
        want = np.column_stack(from_wgs84(datum, lon, lat))
        gj = served.get(url, served.admin, datum=datum.value, **window).json()
        got = np.array(gj["geometry"]["coordinates"])
        assert np.abs(got - want).max() < 1e-12
        shift_m = np.hypot((got[:, 0] - lon) * 86_500, (got[:, 1] - lat) * 111_000)
        assert shift_m.min() > 500  # hundreds of metres at (117.0 E, 39.0 N): really shifted
        gpx = served.get(url, served.admin, format="gpx", datum=datum.value, **window)
        points = gpxpy.parse(gpx.text).tracks[0].segments[0].points
        assert np.abs(np.array([[p.longitude, p.latitude] for p in points]) - want).max() < 1e-9
        csv = served.get(url, served.admin, format="csv", datum=datum.value, **window)
        assert f'-{datum.value}.csv"' in csv.headers["content-disposition"]
        frame = pl.read_csv(io.StringIO(csv.text))
        assert np.abs(frame.select("lon", "lat").to_numpy() - want).max() < 1e-9
    refused = served.get(url, served.admin, datum="mars", **window)
    assert refused.status_code == 422 and "datum" in refused.text
