"""Datum conversions against an independent implementation: the published formulas written
out again as a plain-Python loop, GCJ-02's inverse by bisection (not our fixed-point
iteration), BD-09's by its published approximate inverse; EPSG systems against pyproj and
the Gauss-Kruger zones' own definition (the central meridian is x = false easting)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from base.datum import (
    Datum,
    bd09_to_gcj02,
    from_wgs84,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    parse_datum,
    to_wgs84,
    wgs84_to_gcj02,
)
from geofence.crs import WGS84, crs_of_geojson, crs_of_prj, parse_crs

N = 2_000  # random points over China per property


def ref_out_of_china(lon: float, lat: float) -> bool:
    return not (72.004 <= lon <= 137.8347 and 0.8293 <= lat <= 55.8271)


def ref_wgs_to_gcj(lon: float, lat: float) -> tuple[float, float]:
    """The published GCJ-02 formula, one point at a time (as eviltransform writes it)."""
    if ref_out_of_china(lon, lat):
        return lon, lat
    a, ee = 6378245.0, 0.00669342162296594323
    x, y = lon - 105.0, lat - 35.0
    t_lat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
    t_lat += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2 / 3
    t_lat += (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2 / 3
    t_lat += (160.0 * math.sin(y / 12.0 * math.pi) + 320 * math.sin(y * math.pi / 30.0)) * 2 / 3
    t_lon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
    t_lon += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2 / 3
    t_lon += (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2 / 3
    t_lon += (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2 / 3
    rad = lat / 180.0 * math.pi
    magic = 1 - ee * math.sin(rad) ** 2
    sqrt_magic = math.sqrt(magic)
    d_lat = (t_lat * 180.0) / ((a * (1 - ee)) / (magic * sqrt_magic) * math.pi)
    d_lon = (t_lon * 180.0) / (a / sqrt_magic * math.cos(rad) * math.pi)
    return lon + d_lon, lat + d_lat


def ref_gcj_to_wgs(lon: float, lat: float) -> tuple[float, float]:
    """GCJ-02 to WGS-84 by bisection in a 0.01-degree box (eviltransform's exact inverse)."""
    if ref_out_of_china(lon, lat):
        return lon, lat
    lo_lon, hi_lon, lo_lat, hi_lat = lon - 0.01, lon + 0.01, lat - 0.01, lat + 0.01
    w_lon, w_lat = lon, lat
    for _ in range(60):
        w_lon, w_lat = (lo_lon + hi_lon) / 2, (lo_lat + hi_lat) / 2
        g_lon, g_lat = ref_wgs_to_gcj(w_lon, w_lat)
        if g_lon > lon:
            hi_lon = w_lon
        else:
            lo_lon = w_lon
        if g_lat > lat:
            hi_lat = w_lat
        else:
            lo_lat = w_lat
    return w_lon, w_lat


X_PI = math.pi * 3000.0 / 180.0


def ref_gcj_to_bd(lon: float, lat: float) -> tuple[float, float]:
    z = math.sqrt(lon * lon + lat * lat) + 0.00002 * math.sin(lat * X_PI)
    theta = math.atan2(lat, lon) + 0.000003 * math.cos(lon * X_PI)
    return z * math.cos(theta) + 0.0065, z * math.sin(theta) + 0.006


def ref_bd_to_gcj(lon: float, lat: float) -> tuple[float, float]:
    """Baidu's published (approximate) inverse."""
    x, y = lon - 0.0065, lat - 0.006
    z = math.sqrt(x * x + y * y) - 0.00002 * math.sin(y * X_PI)
    theta = math.atan2(y, x) - 0.000003 * math.cos(x * X_PI)
    return z * math.cos(theta), z * math.sin(theta)


def metres(lon1, lat1, lon2, lat2) -> np.ndarray:
    """Distances between points a few metres apart (local plane)."""
    k = 6371008.8 * math.pi / 180.0
    dx = (np.asarray(lon1) - np.asarray(lon2)) * k * np.cos(np.radians(lat1))
    dy = (np.asarray(lat1) - np.asarray(lat2)) * k
    return np.hypot(dx, dy)


def ref(fn, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    out = [fn(float(x), float(y)) for x, y in zip(lon, lat, strict=True)]
    return np.array([o[0] for o in out]), np.array([o[1] for o in out])


@pytest.fixture(scope="module")
def china() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(24)
    return rng.uniform(73.5, 135.0, N), rng.uniform(18.0, 53.5, N)


def test_offsets_where_the_issue_measured_them():
    # Zhangjiawo (Tianjin), Dongcheng (Beijing), Huizhou: about 560, 554 and 579 m
    lon = np.array([117.16, 116.416, 114.416])
    lat = np.array([39.06, 39.928, 23.111])
    g_lon, g_lat = wgs84_to_gcj02(lon, lat)
    assert np.round(metres(g_lon, g_lat, lon, lat), -1).tolist() == [560.0, 550.0, 580.0]


def test_each_direction_against_the_reference(china):
    lon, lat = china
    g_lon, g_lat = wgs84_to_gcj02(lon, lat)
    assert metres(g_lon, g_lat, *ref(ref_wgs_to_gcj, lon, lat)).max() < 0.5
    w_lon, w_lat = gcj02_to_wgs84(lon, lat)
    assert metres(w_lon, w_lat, *ref(ref_gcj_to_wgs, lon, lat)).max() < 0.5
    b_lon, b_lat = gcj02_to_bd09(lon, lat)
    assert metres(b_lon, b_lat, *ref(ref_gcj_to_bd, lon, lat)).max() < 0.5
    c_lon, c_lat = bd09_to_gcj02(lon, lat)
    assert metres(c_lon, c_lat, *ref(ref_bd_to_gcj, lon, lat)).max() < 0.5
    # and the shifts are real: tens to hundreds of metres, so the 0.5 m says something
    assert metres(g_lon, g_lat, lon, lat).min() > 10.0


def test_round_trips_within_a_centimetre(china):
    lon, lat = china
    for datum in Datum:
        back = to_wgs84(datum, *from_wgs84(datum, lon, lat))
        assert metres(*back, lon, lat).max() < 0.01, datum
        there = from_wgs84(datum, *to_wgs84(datum, lon, lat))
        assert metres(*there, lon, lat).max() < 0.01, datum


def test_points_outside_china_are_not_shifted():
    lon = np.array([2.35, 139.69, 100.5, 30.0, 150.0])  # Paris, Tokyo, 0.5 S, ...
    lat = np.array([48.85, 35.69, -0.5, 60.0, 20.0])
    for datum in Datum:
        for fn in (from_wgs84, to_wgs84):
            x, y = fn(datum, lon, lat)
            assert (x == lon).all() and (y == lat).all()


def test_datum_names():
    assert parse_datum("GCJ-02") is Datum.GCJ02
    assert parse_datum("bd_09") is Datum.BD09
    with pytest.raises(ValueError, match="unknown datum 'wgs72'"):
        parse_datum("wgs72")


def test_epsg_systems_against_pyproj_and_their_definition():
    from pyproj import Transformer

    rng = np.random.default_rng(5)
    lon, lat = rng.uniform(115.6, 118.4, 500), rng.uniform(38.6, 40.2, 500)
    to_4527 = Transformer.from_crs("EPSG:4490", "EPSG:4527", always_xy=True)
    x, y = to_4527.transform(lon, lat)
    back = parse_crs("EPSG:4527").to_wgs84(np.column_stack([x, y]))
    assert metres(back[:, 0], back[:, 1], lon, lat).max() < 0.01
    # EPSG:4548 is the same Gauss-Kruger projection (CM 117E) without the zone prefix
    same = parse_crs("urn:ogc:def:crs:EPSG::4548").to_wgs84(np.column_stack([x - 39e6, y]))
    assert metres(same[:, 0], same[:, 1], lon, lat).max() < 0.01
    # zone 39's central meridian is 117E: x = 39,500,000 m lies on it
    on_meridian = parse_crs("EPSG:4527").to_wgs84(np.array([[39_500_000.0, 4_330_000.0]]))
    assert on_meridian[0, 0] == pytest.approx(117.0, abs=1e-9)
    assert parse_crs("EPSG:4527").geographic is False
    assert parse_crs("EPSG:4490").geographic is True


def test_crs_names_and_their_problems():
    from pyproj import CRS

    assert parse_crs("EPSG:4326") is WGS84
    assert crs_of_geojson({"type": "name", "properties": {"name": "urn:ogc:def:crs:OGC:1.3:CRS84"}})
    assert parse_crs("gcj02").datum is Datum.GCJ02
    assert crs_of_prj(CRS.from_epsg(4527).to_wkt("WKT1_ESRI")).label == "EPSG:4527"
    with pytest.raises(ValueError, match=r"^unknown coordinate system EPSG:99999$"):
        parse_crs("EPSG:99999")
    with pytest.raises(ValueError, match=r"^cannot read the \.prj \('PROJCS\[oops'\)"):
        crs_of_prj("PROJCS[oops")
    with pytest.raises(ValueError, match="unknown coordinate system 'mars'"):
        parse_crs("mars")
