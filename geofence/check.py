"""Geometry checks of a grid file, and the repairs ``--repair`` may make."""

from __future__ import annotations

import dataclasses

import shapely
from shapely.geometry.base import BaseGeometry

from geofence.shapes import Grid, Plane

#: Leaf grids may overlap by at most this much (m²) before the file is refused.
OVERLAP_TOLERANCE_M2 = 1.0
#: Polygon parts smaller than this (m²) are slivers; --repair drops them.
SLIVER_M2 = 1.0


def area_m2(geom: BaseGeometry, plane: Plane) -> float:
    return float(shapely.area(geom)) * plane.kx * plane.ky


def plane_of(grids: list[Grid]) -> Plane:
    bounds = shapely.total_bounds([g.geometry for g in grids if g.geometry is not None])
    return Plane(lon0=(bounds[0] + bounds[2]) / 2, lat0=(bounds[1] + bounds[3]) / 2)


def find_invalid(grids: list[Grid]) -> list[str]:
    problems = []
    for g in grids:
        if g.geometry is not None and not shapely.is_valid(g.geometry):
            reason = shapely.is_valid_reason(g.geometry)
            problems.append(f"grid {g.id!r}: invalid ring: {reason}")
    return problems


def find_overlaps(leaves: list[Grid], plane: Plane) -> list[str]:
    geoms = [g.geometry for g in leaves]
    tree = shapely.STRtree(geoms)
    left, right = tree.query(geoms, predicate="intersects")
    problems = []
    for a, b in zip(left, right, strict=True):
        if a >= b:
            continue
        shared = shapely.intersection(geoms[a], geoms[b])
        overlap = area_m2(shared, plane)
        if overlap > OVERLAP_TOLERANCE_M2:
            problems.append(
                f"grids {leaves[a].id!r} and {leaves[b].id!r} overlap by {overlap:.1f} m² "
                f"(tolerance {OVERLAP_TOLERANCE_M2} m²)"
            )
    return problems


def _polygonal(geom: BaseGeometry) -> BaseGeometry:
    parts = shapely.get_parts(geom)
    polys = [p for p in parts if isinstance(p, shapely.Polygon | shapely.MultiPolygon)]
    return shapely.union_all(polys) if polys else shapely.Polygon()


def repair(grids: list[Grid], leaf_ids: set[str]) -> tuple[list[Grid], list[str]]:
    """make_valid, drop slivers, give overlaps to the leaf listed first. Returns the changes."""
    changes: list[str] = []
    fixed: list[Grid] = []
    plane = plane_of(grids)
    for g in grids:
        geom = g.geometry
        if geom is None:
            fixed.append(g)
            continue
        if not shapely.is_valid(geom):
            reason = shapely.is_valid_reason(geom)
            geom = _polygonal(shapely.make_valid(geom))
            changes.append(f"grid {g.id!r}: made valid ({reason})")
        parts = [p for p in shapely.get_parts(geom) if area_m2(p, plane) >= SLIVER_M2]
        if len(parts) < len(shapely.get_parts(geom)):
            dropped = len(shapely.get_parts(geom)) - len(parts)
            changes.append(f"grid {g.id!r}: dropped {dropped} sliver part(s) under {SLIVER_M2} m²")
            geom = shapely.union_all(parts) if parts else shapely.Polygon()
        fixed.append(dataclasses.replace(g, geometry=geom))
    taken: BaseGeometry | None = None
    out: list[Grid] = []
    for g in fixed:
        if g.id not in leaf_ids or g.geometry is None:
            out.append(g)
            continue
        geom = g.geometry
        if taken is not None and shapely.intersects(geom, taken):
            overlap = area_m2(shapely.intersection(geom, taken), plane)
            if overlap > OVERLAP_TOLERANCE_M2:
                geom = _polygonal(shapely.difference(geom, taken))
                changes.append(
                    f"grid {g.id!r}: gave {overlap:.1f} m² of overlap to grids listed before it"
                )
        if shapely.is_empty(geom):
            changes.append(f"grid {g.id!r}: nothing left after repair")
        taken = geom if taken is None else shapely.union(taken, geom)
        out.append(dataclasses.replace(g, geometry=geom))
    return out, changes
