"""The three geographic datums of Chinese maps and positions, converted by formula.

gridpatrol keeps every position in WGS-84 and converts at the doors (a grid file, a device's
pings, a track export): the shapes and pings an Amap or Tencent map draws are GCJ-02
(火星坐标), Baidu's BD-09. Both are shifts of WGS-84 by the published formulas (the
GCJ-02 one, as every open implementation writes it: a polynomial-and-sine offset on the
Krasovsky ellipsoid; BD-09 a small rotation and offset of GCJ-02 around the origin). Their
inverses have no closed form: they are iterated here until the forward formula gives back
the point within :data:`INVERSE_TOLERANCE_DEG` (about 1 mm). GCJ-02 is defined only inside
China: points outside :data:`CHINA_BBOX` are not shifted, in either datum.

Everything is vectorised with numpy over float64 columns: a batch of pings costs a few
array passes. Here in ``base`` because ingest (the pings), geofence (the grids) and the API
(the exports) all convert; the grid files' projected CRSs (pyproj) are geofence's own.
"""

from __future__ import annotations

import enum
from collections.abc import Callable

import numpy as np

#: Krasovsky 1940 semi-major axis and eccentricity squared, as the GCJ-02 formula uses them.
_A = 6378245.0
_EE = 0.00669342162296594323
#: BD-09's rotation constant (x_pi = pi * 3000 / 180).
_X_PI = np.pi * 3000.0 / 180.0
#: The box outside which GCJ-02 (and so BD-09) leaves a point where it is: lon W, lat S, lon
#: E, lat N (the box every open implementation uses).
CHINA_BBOX = (72.004, 0.8293, 137.8347, 55.8271)
#: An inverse stops when the forward formula gives back the point within this (degrees,
#: about 1 mm): far below the 0.01 m the round trip must keep.
INVERSE_TOLERANCE_DEG = 1e-8
#: Iterations of an inverse at most: each one divides the error by 200 or more (the
#: offset's slope is under 0.5 %), so 3 or 4 reach the tolerance inside the box.
MAX_ITERATIONS = 12


class Datum(enum.StrEnum):
    """A geographic datum positions may arrive in; the value is what files and flags say."""

    WGS84 = "wgs84"
    GCJ02 = "gcj02"
    BD09 = "bd09"

    @property
    def label(self) -> str:
        return {"wgs84": "WGS-84", "gcj02": "GCJ-02", "bd09": "BD-09"}[self.value]


def parse_datum(text: str) -> Datum:
    """A datum from its name, in any case, with or without the hyphen (``GCJ-02``)."""
    key = text.strip().lower().replace("-", "").replace("_", "")
    try:
        return Datum(key)
    except ValueError:
        names = ", ".join(d.value for d in Datum)
        raise ValueError(f"unknown datum {text!r} (one of {names})") from None


def in_china(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """True where GCJ-02 shifts a point (inside :data:`CHINA_BBOX`)."""
    west, south, east, north = CHINA_BBOX
    return (lon >= west) & (lon <= east) & (lat >= south) & (lat <= north)


def _gcj02_offset(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The published GCJ-02 offset (degrees of lon, lat) at WGS-84 points, shifted or not."""
    x = lon - 105.0
    y = lat - 35.0
    root = np.sqrt(np.abs(x))
    waves = (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * root + waves
    dlat += (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    dlat += (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * root + waves
    dlon += (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    dlon += (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    rad = lat / 180.0 * np.pi
    magic = 1.0 - _EE * np.sin(rad) ** 2
    root_magic = np.sqrt(magic)
    dlat = dlat * 180.0 / ((_A * (1.0 - _EE)) / (magic * root_magic) * np.pi)
    dlon = dlon * 180.0 / (_A / root_magic * np.cos(rad) * np.pi)
    return dlon, dlat


def _wgs84_to_gcj02(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    dlon, dlat = _gcj02_offset(lon, lat)
    return lon + dlon, lat + dlat


def wgs84_to_gcj02(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    inside = in_china(lon, lat)
    g_lon, g_lat = _wgs84_to_gcj02(lon, lat)
    return np.where(inside, g_lon, lon), np.where(inside, g_lat, lat)


def gcj02_to_wgs84(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The WGS-84 points whose GCJ-02 shift is (lon, lat): fixed-point iteration."""
    return _invert(_wgs84_to_gcj02, lon, lat)


def _gcj02_to_bd09(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    z = np.sqrt(lon * lon + lat * lat) + 0.00002 * np.sin(lat * _X_PI)
    theta = np.arctan2(lat, lon) + 0.000003 * np.cos(lon * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def gcj02_to_bd09(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    inside = in_china(lon, lat)
    bd_lon, bd_lat = _gcj02_to_bd09(lon, lat)
    return np.where(inside, bd_lon, lon), np.where(inside, bd_lat, lat)


def bd09_to_gcj02(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return _invert(_gcj02_to_bd09, lon, lat)


Shift = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def _invert(forward: Shift, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Solve forward(w) = (lon, lat) by w <- w - (forward(w) - target), from the point
    itself, for the points inside China (the rest are not shifted); each point leaves the
    loop when it is within the tolerance. The offsets change by under 0.5 % of a step, so
    the step contracts: 3 or 4 iterations from anywhere inside the box."""
    lon = np.asarray(lon, dtype=np.float64)
    lat = np.asarray(lat, dtype=np.float64)
    x, y = lon.copy(), lat.copy()
    todo = np.flatnonzero(in_china(lon, lat))
    for _ in range(MAX_ITERATIONS):
        if todo.size == 0:
            break
        fx, fy = forward(x[todo], y[todo])
        ex, ey = fx - lon[todo], fy - lat[todo]
        x[todo] -= ex
        y[todo] -= ey
        todo = todo[(np.abs(ex) >= INVERSE_TOLERANCE_DEG) | (np.abs(ey) >= INVERSE_TOLERANCE_DEG)]
    return x, y


def to_wgs84(datum: Datum, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Points given in ``datum`` as WGS-84 (float64 arrays; new arrays, inputs kept)."""
    lon = np.asarray(lon, dtype=np.float64)
    lat = np.asarray(lat, dtype=np.float64)
    if datum is Datum.GCJ02:
        return gcj02_to_wgs84(lon, lat)
    if datum is Datum.BD09:
        return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))
    return lon.copy(), lat.copy()


def from_wgs84(datum: Datum, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """WGS-84 points as ``datum`` draws them."""
    lon = np.asarray(lon, dtype=np.float64)
    lat = np.asarray(lat, dtype=np.float64)
    if datum is Datum.GCJ02:
        return wgs84_to_gcj02(lon, lat)
    if datum is Datum.BD09:
        return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))
    return lon.copy(), lat.copy()
