"""The coordinate reference system of a grid file, and its conversion to WGS-84.

A grid file may be WGS-84, GCJ-02 or BD-09 longitude and latitude (converted by formula:
base/datum.py), or any EPSG system, such as CGCS2000 (EPSG:4490) or one of its Gauss-Kruger
zones (EPSG:4527, EPSG:4548), converted through pyproj, whose wheels carry the PROJ
database: nothing is downloaded. pyproj is imported only here, where a file names such a
system: a WGS-84 file loads no pyproj.

Every problem is a ``ValueError`` with one line, which the grid reader turns into its
:class:`geofence.gridfile.GridFileError`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from base.datum import Datum, parse_datum, to_wgs84

#: EPSG codes that are WGS-84 longitude and latitude as they stand.
WGS84_CODES = frozenset({4326})
#: An EPSG code as --crs, a GeoJSON ``crs`` member or an OGC URN writes it.
_EPSG = re.compile(r"^(?:EPSG:{1,2}|urn:ogc:def:crs:EPSG:[\d.]*:)(\d{1,6})$", re.IGNORECASE)
_CRS84 = re.compile(r"^(?:urn:ogc:def:crs:OGC:[\d.]*:)?CRS:?84$", re.IGNORECASE)


@dataclass(frozen=True)
class Crs:
    """A grid file's system: a geographic datum by formula, or a pyproj definition."""

    label: str  # as lines show it: WGS-84, GCJ-02, BD-09, EPSG:4527 or a .prj's name
    datum: Datum | None = None
    definition: str | None = None  # "EPSG:4527" or a WKT, for pyproj
    geographic: bool = True  # degrees of longitude and latitude (else metres, projected)

    def to_wgs84(self, xy: np.ndarray) -> np.ndarray:
        """(n, 2) coordinates of this system as WGS-84 longitude and latitude (the shape
        ``shapely.transform`` calls with)."""
        if self.datum is not None:
            lon, lat = to_wgs84(self.datum, xy[:, 0], xy[:, 1])
        else:
            from pyproj import Transformer  # a projected file only: loaded where it is read

            transformer = Transformer.from_crs(self.definition, "EPSG:4326", always_xy=True)
            lon, lat = transformer.transform(xy[:, 0], xy[:, 1])
        return np.column_stack([lon, lat])


WGS84 = Crs("WGS-84", Datum.WGS84)


def _pyproj_crs(definition: str, label: str) -> Crs:
    from pyproj import CRS
    from pyproj.exceptions import CRSError

    try:
        crs = CRS.from_user_input(definition)
    except CRSError:
        raise ValueError(f"unknown coordinate system {label}") from None
    if not (crs.is_geographic or crs.is_projected):
        raise ValueError(f"{label} is neither longitude and latitude nor a map projection")
    return Crs(label, definition=definition, geographic=bool(crs.is_geographic))


def parse_crs(text: str) -> Crs:
    """A CRS as --crs or a GeoJSON ``crs`` member names it: wgs84, gcj02, bd09 (any case,
    with or without hyphen), EPSG:NNNN, an OGC URN of one, or CRS84."""
    text = text.strip()
    if _CRS84.match(text):
        return WGS84
    found = _EPSG.match(text)
    if found:
        code = int(found.group(1))
        if code in WGS84_CODES:
            return WGS84
        return _pyproj_crs(f"EPSG:{code}", f"EPSG:{code}")
    try:
        datum = parse_datum(text)
    except ValueError:
        raise ValueError(
            f"unknown coordinate system {text!r} (wgs84, gcj02, bd09 or EPSG:NNNN)"
        ) from None
    return Crs(datum.label, datum)


def crs_of_geojson(member: Any) -> Crs | None:
    """The CRS a GeoJSON ``crs`` member names (the 2008 form, ``{"type": "name",
    "properties": {"name": ...}}``), or None without one."""
    if member is None:
        return None
    name = member.get("properties", {}).get("name") if isinstance(member, dict) else None
    if not isinstance(name, str):
        raise ValueError('the "crs" member names no system ({"type": "name", ...})')
    return parse_crs(name)


def crs_of_prj(text: str) -> Crs:
    """The CRS of a shapefile's ``.prj`` (ESRI or OGC WKT)."""
    from pyproj import CRS
    from pyproj.exceptions import CRSError

    try:
        crs = CRS.from_wkt(text)
    except CRSError:
        first = text.strip().splitlines()[0][:60] if text.strip() else "empty"
        raise ValueError(f"cannot read the .prj ({first!r}): give the system with --crs") from None
    code = crs.to_epsg(min_confidence=70)
    if code in WGS84_CODES:
        return WGS84
    label = f"EPSG:{code}" if code is not None else crs.name
    return _pyproj_crs(f"EPSG:{code}" if code is not None else text, label)
