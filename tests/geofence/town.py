"""Hand-built grids in metres around (117.0 E, 39.0 N), for tests with written-out answers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import shapely

from geofence.shapes import Plane

LON0, LAT0 = 117.0, 39.0
PLANE = Plane(LON0, LAT0)


def lonlat(x: float, y: float) -> tuple[float, float]:
    lon, lat = PLANE.to_lonlat(np.array([x]), np.array([y]))
    return float(lon[0]), float(lat[0])


def rect(x0: float, y0: float, x1: float, y1: float) -> list[list[list[float]]]:
    corners = [(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)]
    return [[list(lonlat(x, y)) for x, y in corners]]


def feature(gid: str, rings: list | None, **props: object) -> dict:
    geometry = None if rings is None else {"type": "Polygon", "coordinates": rings}
    return {"type": "Feature", "properties": {"id": gid, **props}, "geometry": geometry}


def three_in_a_row(path: Path, **props: object) -> Path:
    """Parent P over A | B | C, each 120 m tall, A and C 120 m wide, B 80 m wide."""
    features = [
        feature("P", rect(-160, -60, 160, 60)),
        feature("A", rect(-160, -60, -40, 60), parent="P", **props),
        feature("B", rect(-40, -60, 40, 60), parent="P", **props),
        feature("C", rect(40, -60, 160, 60), parent="P", **props),
    ]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


def shapely_first_covering(geoms: list, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """The oracle: index of the first geometry that covers each point, -1 for none."""
    tree = shapely.STRtree(geoms)
    points = shapely.points(lon, lat)
    point, grid = tree.query(points)
    # covers on prepared grids: fast even for a grid of a million vertices
    polygons = np.asarray(geoms, dtype=object)
    shapely.prepare(polygons)
    keep = shapely.covers(polygons[grid], points[point])
    point, grid = point[keep], grid[keep]
    expected = np.full(len(lon), -1)
    order = np.lexsort((grid, point))
    point, grid = point[order], grid[order]
    first = np.unique(point, return_index=True)[1]
    expected[point[first]] = grid[first]
    return expected
