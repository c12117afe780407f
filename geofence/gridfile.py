"""Reading a grid file: GeoJSON or an ESRI shapefile, its coordinate system, and its
coordinates as WGS-84, within limits that bound what a hostile or broken file costs.

The checks of the features themselves (ids, parents, geometry) are :mod:`geofence.grids`'.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import shapely

from base.errors import GridpatrolError
from geofence.crs import WGS84, Crs, crs_of_geojson, crs_of_prj, parse_crs
from geofence.shapes import Grid
from geofence.sources import GridSource, rename_fields

MAX_VERTICES = 2_000_000
MAX_FILE_BYTES = 128 * 1024 * 1024
#: A coordinate beyond this (degrees or not) is plainly projected metres.
PROJECTED_BEYOND = 1000.0


class GridFileError(GridpatrolError):
    """A grid file cannot be used; ``problems`` has one line per problem found."""

    def __init__(self, path: str, problems: list[str]) -> None:
        self.problems = problems
        shown = "\n  ".join(problems[:50])
        more = f"\n  ... and {len(problems) - 50} more" if len(problems) > 50 else ""
        super().__init__(f"{path}: {len(problems)} problem(s):\n  {shown}{more}")


#: JSON values (numbers, strings, arrays, objects, keys) a grid file may hold: a file within
#: the vertex limit needs about three per vertex (``[lon, lat],``). Counted on the raw bytes
#: before parsing, so that no file makes the parser build more: 8,000,000 values cost at most
#: about 0.5 GB as Python objects, where a 128 MiB file of ``[],`` would have cost 2.8 GB.
MAX_JSON_VALUES = 4 * MAX_VERTICES
#: Longer integer literals are read as floats (then infinite when too large for one), so
#: that a huge number is one problem line, never Python's integer-digits error.
_MAX_INT_DIGITS = 18


def _number(text: str) -> int | float:
    return int(text) if len(text) <= _MAX_INT_DIGITS else float(text)


def count_json_values(data: bytes) -> int:
    """An upper bound on the values in a JSON document: every value but the first follows
    a ``[``, ``{``, ``,`` or ``:`` (counted inside strings too, so never fewer)."""
    return 1 + sum(data.count(c) for c in (b"[", b"{", b",", b":"))


def read_features(path: Path) -> tuple[list[Any], Any]:
    """A GeoJSON file's features and its ``crs`` member (None without one)."""
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise GridFileError(str(path), [f"file larger than {MAX_FILE_BYTES} bytes"])
        raw = path.read_bytes()
        values = count_json_values(raw)
        if values > MAX_JSON_VALUES:
            raise GridFileError(
                str(path),
                [
                    f"up to {values} JSON values: more than the limit of {MAX_JSON_VALUES} "
                    f"(about 3 per vertex; the limit is {MAX_VERTICES} vertices)"
                ],
            )
        data = json.loads(raw, parse_int=_number)
    except OSError as exc:
        raise GridFileError(str(path), [f"cannot read: {exc.strerror}"]) from exc
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError too
        raise GridFileError(str(path), [f"not valid JSON: {exc}"]) from exc
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
        raise GridFileError(str(path), ["not a GeoJSON FeatureCollection"])
    features = data.get("features")
    if not isinstance(features, list) or not features:
        raise GridFileError(str(path), ["the FeatureCollection has no features"])
    return features, data.get("crs")


def read_source(path: Path, source: GridSource) -> tuple[list[Any], Crs | None]:
    """The features of a GeoJSON file or a shapefile (``.shp``, or a ``.zip`` of one) with our
    property names, and their CRS: ``--crs``, else the file's own (a GeoJSON ``crs`` member,
    a ``.prj``), else None (longitude and latitude taken as WGS-84)."""
    shapefile = path.suffix.lower() in (".shp", ".zip")
    try:
        if shapefile:
            from geofence.shapefiles import read_parts, read_shapefile

            parts = read_parts(path)
            features = read_shapefile(parts, source.encoding)
            found = crs_of_prj(parts.prj) if parts.prj and source.crs is None else None
        else:
            features, member = read_features(path)
            found = crs_of_geojson(member) if source.crs is None else None
        crs = parse_crs(source.crs) if source.crs is not None else found
    except ValueError as exc:
        raise GridFileError(str(path), [str(exc)]) from exc
    features, problems = rename_fields(features, source, shapefile=shapefile)
    if problems:
        raise GridFileError(str(path), problems)
    return features, crs


def place_grids(grids: list[Grid], crs: Crs | None, problems: list[str]) -> list[Grid]:
    """The grids in WGS-84 longitude and latitude: coordinates checked as the CRS says,
    converted, checked again (a projection's result too). ``crs`` None: WGS-84 unnamed."""
    shaped = [g for g in grids if g.geometry is not None]
    if not shaped:
        return grids
    geoms = shapely.force_2d(np.asarray([g.geometry for g in shaped], dtype=object))
    system = crs or WGS84
    if system.geographic:
        coords, index = shapely.get_coordinates(geoms, return_index=True)
        beyond = (np.abs(coords[:, 0]) > 180) | (np.abs(coords[:, 1]) > 90)
        if beyond.any():
            largest = float(np.abs(coords[beyond]).max())
            if largest > PROJECTED_BEYOND:
                named = f"it says {system.label}, yet " if crs is not None else ""
                problems.append(
                    f"{named}coordinates up to {largest:,.0f} are projected metres, not "
                    "longitude and latitude: name the file's system with --crs EPSG:NNNN "
                    "(CGCS2000 Gauss-Kruger zones: EPSG:4513 to 4554)"
                )
                return grids
            problems += [
                f"grid {shaped[i].id!r}: coordinates out of range (lon -180..180, lat -90..90)"
                for i in np.unique(index[beyond])
            ]
            return grids
    elif np.abs(shapely.get_coordinates(geoms)).max() <= 180:
        problems.append(
            f"{system.label} is a projection in metres, yet every coordinate is within "
            "180: longitude and latitude? (then --crs wgs84, gcj02, bd09 or EPSG:4490)"
        )
        return grids
    if system is not WGS84:
        geoms = shapely.transform(geoms, system.to_wgs84)
        coords, index = shapely.get_coordinates(geoms, return_index=True)
        bad = ~np.isfinite(coords).all(axis=1)
        bad |= (np.abs(coords[:, 0]) > 180) | (np.abs(coords[:, 1]) > 90)
        problems += [
            f"grid {shaped[i].id!r}: coordinates outside the area of {system.label}"
            for i in np.unique(index[bad])
        ]
    converted = dict(zip((g.id for g in shaped), geoms, strict=True))
    return [
        dataclasses.replace(g, geometry=converted[g.id]) if g.geometry is not None else g
        for g in grids
    ]
