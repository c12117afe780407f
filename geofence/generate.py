"""Grid files made from rules: square unit grids, and irregular Voronoi towns."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import shapely

from geofence.shapes import EARTH_RADIUS_M


def _metres_per_degree(lat: float) -> tuple[float, float]:
    ky = EARTH_RADIUS_M * math.pi / 180
    return ky * math.cos(math.radians(lat)), ky


def _feature(props: dict[str, Any], geom: shapely.Geometry | None) -> dict[str, Any]:
    return {
        "type": "Feature",
        "properties": props,
        "geometry": None if geom is None else shapely.geometry.mapping(geom),
    }


def square_grids(
    bbox: tuple[float, float, float, float], cell_m: float, parent_every: int = 0
) -> dict[str, Any]:
    """Square cells of ``cell_m`` metres from the south-west corner; ids ``R{row}C{col}``.

    With ``parent_every`` N, blocks of N x N cells get a parent ``P{row}C{col}`` (listed
    first), so reports aggregate them.
    """
    west, south, east, north = bbox
    kx, ky = _metres_per_degree((south + north) / 2)
    dx, dy = cell_m / kx, cell_m / ky
    cols = max(1, math.ceil((east - west) / dx - 1e-9))
    rows = max(1, math.ceil((north - south) / dy - 1e-9))
    width = len(str(max(rows, cols) - 1))
    features = []
    if parent_every > 0:
        for pr in range(0, rows, parent_every):
            for pc in range(0, cols, parent_every):
                pid = f"P{pr // parent_every:0{width}d}C{pc // parent_every:0{width}d}"
                r1, c1 = min(rows, pr + parent_every), min(cols, pc + parent_every)
                box = shapely.box(west + pc * dx, south + pr * dy, west + c1 * dx, south + r1 * dy)
                features.append(_feature({"id": pid, "name": pid}, box))
    for r in range(rows):
        for c in range(cols):
            gid = f"R{r:0{width}d}C{c:0{width}d}"
            props: dict[str, Any] = {"id": gid, "name": gid}
            if parent_every > 0:
                pr, pc = r // parent_every, c // parent_every
                props["parent"] = f"P{pr:0{width}d}C{pc:0{width}d}"
            cell = shapely.box(
                west + c * dx, south + r * dy, west + (c + 1) * dx, south + (r + 1) * dy
            )
            features.append(_feature(props, cell))
    return {"type": "FeatureCollection", "features": features}


def irregular_town(
    lon: float,
    lat: float,
    *,
    grids: int = 76,
    areas: int = 4,
    radius_m: float = 2500.0,
    seed: int = 7,
    service_hours: str | None = "08:00-20:00",
) -> dict[str, Any]:
    """A town of irregular grids: Voronoi cells of seeded points clipped to a rough disc.

    Grids are grouped into ``areas`` parent areas by bearing from the centre; one grid gets a
    hole (a walled factory compound that is not patrolled).
    """
    rng = np.random.default_rng(seed)
    kx, ky = _metres_per_degree(lat)
    angles = np.linspace(0, 2 * np.pi, 48, endpoint=False)
    wobble = radius_m * (1 + 0.12 * np.sin(3 * angles) + 0.05 * rng.standard_normal(48))
    outline = shapely.Polygon(
        np.column_stack([lon + wobble * np.cos(angles) / kx, lat + wobble * np.sin(angles) / ky])
    )
    # keep seeds apart (in metres) so cells are of similar size
    spacing = 0.4 * math.sqrt(math.pi * radius_m**2 / grids)
    accepted = np.empty((0, 2))
    while len(accepted) < grids:
        xy = rng.uniform(-radius_m, radius_m, (4 * grids, 2))
        for x, y in xy:
            if len(accepted) == grids:
                break
            if len(accepted) and (np.hypot(accepted[:, 0] - x, accepted[:, 1] - y) < spacing).any():
                continue
            if outline.contains(shapely.Point(lon + x / kx, lat + y / ky)):
                accepted = np.vstack([accepted, [x, y]])
    points = [(lon + x / kx, lat + y / ky) for x, y in accepted]
    cells = shapely.voronoi_polygons(shapely.MultiPoint(points), extend_to=outline)
    by_point = {}
    for cell in shapely.get_parts(cells):
        clipped = shapely.intersection(cell, outline)
        for i, p in enumerate(points):
            if i not in by_point and cell.contains(shapely.Point(p)):
                by_point[i] = shapely.set_precision(clipped, 1e-7)
                break
    order = sorted(
        by_point,
        key=lambda i: (
            int(
                ((math.atan2(points[i][1] - lat, points[i][0] - lon) + math.pi) / (2 * math.pi))
                * areas
            )
            % areas,
            i,
        ),
    )
    features = []
    for a in range(areas):
        features.append(_feature({"id": f"A{a + 1}", "name": f"Area {a + 1}"}, None))
    hole_done = False
    for n, i in enumerate(order, start=1):
        px, py = points[i]
        area = int(((math.atan2(py - lat, px - lon) + math.pi) / (2 * math.pi)) * areas) % areas
        geom = by_point[i]
        if not hole_done and isinstance(geom, shapely.Polygon) and geom.area * kx * ky > 2e5:
            hole = shapely.Point(px, py).buffer(60 / ky).exterior.coords
            geom = shapely.Polygon(geom.exterior.coords, [hole])
            hole_done = True
        props: dict[str, Any] = {
            "id": f"G{n:03d}",
            "name": f"Grid {n}",
            "parent": f"A{area + 1}",
            "interval_min": 30,
        }
        if service_hours:
            props["service_hours"] = service_hours
        features.append(_feature(props, geom))
    for a in range(areas):
        members = [
            shapely.geometry.shape(f["geometry"])
            for f in features
            if f["properties"].get("parent") == f"A{a + 1}"
        ]
        if members:
            features[a]["geometry"] = shapely.geometry.mapping(
                shapely.set_precision(shapely.union_all(members), 1e-7)
            )
    used = [f for f in features if f["geometry"] is not None]
    return {"type": "FeatureCollection", "features": used}
