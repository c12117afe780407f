"""Geometry checks of a grid file, and the repairs ``--repair`` may make."""

from __future__ import annotations

import dataclasses

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from geofence.shapes import Grid, Plane

#: Leaf grids may overlap by at most this much (m²) before the file is refused.
OVERLAP_TOLERANCE_M2 = 1.0
#: The DE-9IM pattern of two shapes whose interiors meet (overlap, contain, equal).
INTERIORS_MEET = "T********"
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
    """Pairs of leaves whose interiors share more than the tolerance.

    A spatial index (STRtree) gives the pairs whose boxes meet, the interiors are tested and
    the shared areas measured for all pairs in one vectorised call each: about linear in
    the number of leaves (50,000 checked in seconds: docs/cli.md)."""
    geoms = np.asarray([g.geometry for g in leaves], dtype=object)
    tree = shapely.STRtree(geoms)
    left, right = tree.query(geoms, predicate="intersects")
    keep = left < right
    left, right = left[keep], right[keep]
    # neighbours of a tiling only touch: their interiors do not meet, nothing to measure
    inner = shapely.relate_pattern(geoms[left], geoms[right], INTERIORS_MEET)
    left, right = left[inner], right[inner]
    shared = shapely.area(shapely.intersection(geoms[left], geoms[right])) * plane.kx * plane.ky
    return [
        f"grids {leaves[a].id!r} and {leaves[b].id!r} overlap by {overlap:.1f} m² "
        f"(tolerance {OVERLAP_TOLERANCE_M2} m²)"
        for a, b, overlap in zip(left, right, shared, strict=True)
        if overlap > OVERLAP_TOLERANCE_M2
    ]


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
    # each leaf gives up what the leaves listed before it hold; the index finds those it
    # meets (their shapes before repair hold their shapes after), so a leaf is compared with
    # its neighbours, not with the union of every leaf before it
    leaves = [g.geometry for g in fixed if g.id in leaf_ids and g.geometry is not None]
    tree = shapely.STRtree(leaves)
    done: list[BaseGeometry] = []  # the leaves repaired so far, in file order
    out: list[Grid] = []
    for g in fixed:
        if g.id not in leaf_ids or g.geometry is None:
            out.append(g)
            continue
        geom = g.geometry
        at = len(done)
        met = np.asarray(
            [done[j] for j in tree.query(geom, predicate="intersects") if j < at], dtype=object
        )
        met = met[shapely.relate_pattern(geom, met, INTERIORS_MEET)] if len(met) else met
        if len(met):  # neighbours that only touch leave nothing to give up
            taken = shapely.union_all(met)
            overlap = area_m2(shapely.intersection(geom, taken), plane)
            if overlap > OVERLAP_TOLERANCE_M2:
                geom = _polygonal(shapely.difference(geom, taken))
                changes.append(
                    f"grid {g.id!r}: gave {overlap:.1f} m² of overlap to grids listed before it"
                )
        if shapely.is_empty(geom):
            changes.append(f"grid {g.id!r}: nothing left after repair")
        done.append(geom)
        out.append(dataclasses.replace(g, geometry=geom))
    return out, changes
