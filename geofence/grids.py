"""Grids: check a grid file (GeoJSON or a shapefile, in any CRS: geofence/gridfile.py), and
hold the leaves as flat buffers with an index.

A :class:`GridSet` keeps every feature (leaves and parents), their :class:`GridTree` (built
once: children, the leaves under each grid and their positions) and, for the leaves, the
coordinate buffers and bucket index the assignment kernel reads.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import shapely
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from geofence.check import find_invalid, find_overlaps, plane_of
from geofence.check import repair as repair_grids
from geofence.crs import Crs
from geofence.gridfile import MAX_VERTICES, GridFileError, place_grids, read_source
from geofence.service import parse_service_hours
from geofence.shapes import Grid, Plane
from geofence.sources import GridSource

if TYPE_CHECKING:
    from geofence._rings import Candidates, Raster, RingBuffers

DEFAULT_INTERVAL_MIN = 30.0
#: Characters with a meaning in MQTT topics, which grid ids are a level of.
MQTT_RESERVED = "/+#"
#: Buckets per leaf in the coarse index that finds grids along a track segment.
COARSE_BUCKETS_PER_GRID = 4


@dataclass(frozen=True)
class GridTree:
    """The parent/child structure of a grid file, built once with its :class:`GridSet`.

    Every user (reports, the API's grid list and token scopes, presence) reads these maps
    instead of walking the parents again.
    """

    position: Mapping[str, int]  # leaf id -> index into GridSet.ids
    children: Mapping[str, tuple[str, ...]]  # grid id -> its direct children, file order
    leaves_under: Mapping[str, tuple[str, ...]]  # grid id -> leaf ids under it (a leaf: itself)
    positions_under: Mapping[str, np.ndarray]  # the same leaves as int32 indices (read-only)
    parents: tuple[str, ...]  # the grids that are not leaves, file order

    def subtree(self, roots: Iterable[str]) -> frozenset[str]:
        """The ids of ``roots`` and every grid below them (unknown ids are kept as given)."""
        found: set[str] = set()
        stack = list(roots)
        while stack:
            current = stack.pop()
            if current not in found:
                found.add(current)
                stack.extend(self.children.get(current, ()))
        return frozenset(found)


def build_tree(grids: list[Grid], ids: list[str]) -> GridTree:
    """Children, the leaves under every grid and their positions, in one pass up the parents."""
    by_id = {g.id: g for g in grids}
    children: dict[str, list[str]] = {}
    for g in grids:
        if g.parent is not None:
            children.setdefault(g.parent, []).append(g.id)
    under: dict[str, list[int]] = {g.id: [] for g in grids}
    for index, leaf in enumerate(ids):
        current: str | None = leaf
        seen: set[str] = set()
        while current is not None and current in by_id and current not in seen:
            seen.add(current)
            under[current].append(index)
            current = by_id[current].parent
    positions: dict[str, np.ndarray] = {}
    for gid, found in under.items():
        array = np.asarray(found, dtype=np.int32)
        array.setflags(write=False)
        positions[gid] = array
    return GridTree(
        position=MappingProxyType({gid: i for i, gid in enumerate(ids)}),
        children=MappingProxyType({k: tuple(v) for k, v in children.items()}),
        leaves_under=MappingProxyType(
            {gid: tuple(ids[i] for i in found) for gid, found in under.items()}
        ),
        positions_under=MappingProxyType(positions),
        parents=tuple(g.id for g in grids if g.id in children),
    )


class Leaves(Protocol):
    """What the report rows read of a grid file: the leaves' order, each grid's rules and
    the tree. A :class:`GridSet` has it, and so has the lighter :class:`GridCatalog`."""

    @property
    def ids(self) -> list[str]: ...

    @property
    def by_id(self) -> dict[str, Grid]: ...

    @property
    def tree(self) -> GridTree: ...


@dataclass(frozen=True)
class GridCatalog:
    """The grids without their geometry: enough for reports from derived data, which need
    no point placed in a grid (built in milliseconds where a :class:`GridSet` takes
    seconds at a district's size)."""

    ids: list[str]
    by_id: dict[str, Grid]
    tree: GridTree


def catalog_of(grids: list[Grid]) -> GridCatalog:
    parents = {g.parent for g in grids if g.parent is not None}
    ids = [g.id for g in grids if g.id not in parents]
    return GridCatalog(ids, {g.id: g for g in grids}, build_tree(grids, ids))


@dataclass
class GridSet:
    """All grids of a file; ``ids`` are the leaves in file order (the assignment's indices)."""

    grids: list[Grid]
    ids: list[str]
    plane: Plane
    rings: RingBuffers  # the leaves' boundaries, the kernels' buffers
    bbox: np.ndarray
    candidates: Candidates  # fine bucket index: the grids that may hold a point
    coarse: Candidates  # coarse bucket index: the grids a track segment may meet
    raster: Raster  # fine raster: most points answered by one lookup
    by_id: dict[str, Grid] = field(default_factory=dict)
    tree: GridTree = field(init=False)

    def __post_init__(self) -> None:
        self.by_id = {g.id: g for g in self.grids}
        self.tree = build_tree(self.grids, self.ids)

    @property
    def leaves(self) -> list[Grid]:
        return [self.by_id[i] for i in self.ids]


def _check_feature(i: int, feature: Any, problems: list[str]) -> Grid | None:
    where = f"feature {i}"
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        problems.append(f"{where}: not a GeoJSON Feature")
        return None
    props = feature.get("properties") or {}
    if not isinstance(props, dict):
        problems.append(f"{where}: properties is not an object")
        return None
    gid = props.get("id")
    if not isinstance(gid, str) or not gid or len(gid) > 128 or not gid.isprintable():
        problems.append(f"{where}: property id must be a printable string of 1 to 128 characters")
        return None
    if any(ch in gid for ch in MQTT_RESERVED):
        # an id is one level of the alert topics: gridpatrol/v1/alerts/{kind}/{grid_id}
        problems.append(f"{where}: property id {gid!r} must not contain / + or #")
        return None
    where = f"feature {i} (id {gid!r})"
    interval = props.get("interval_min", DEFAULT_INTERVAL_MIN)
    if (
        isinstance(interval, bool)
        or not isinstance(interval, int | float)
        or not (0 < interval <= 24 * 60)
    ):
        problems.append(f"{where}: interval_min must be a number of minutes in (0, 1440]")
        return None
    hours = props.get("service_hours")
    if hours is not None:
        try:
            parse_service_hours(hours)
        except ValueError as exc:
            problems.append(f"{where}: service_hours {exc}")
            return None
    parent = props.get("parent")
    if parent is not None and not isinstance(parent, str):
        problems.append(f"{where}: parent must be a grid id string")
        return None
    geometry = feature.get("geometry")
    geom: BaseGeometry | None = None
    if geometry is not None:
        if not isinstance(geometry, dict) or geometry.get("type") not in (
            "Polygon",
            "MultiPolygon",
        ):
            problems.append(f"{where}: geometry must be a Polygon or MultiPolygon")
            return None
        try:
            geom = shape(geometry)
        except (
            ValueError,
            TypeError,
            AttributeError,
            IndexError,
            shapely.errors.GEOSException,
        ) as exc:
            problems.append(f"{where}: unreadable coordinates ({exc})")
            return None
        coords = shapely.get_coordinates(geom)
        if len(coords) == 0 or not np.isfinite(coords).all():
            problems.append(f"{where}: empty or non-finite coordinates")
            return None
    name = props.get("name")
    return Grid(
        id=gid,
        name=str(name) if name is not None else gid,
        parent=parent,
        interval_s=round(float(interval) * 60),
        service_hours=hours,
        geometry=geom,
    )


#: Levels of parents above a leaf: a district's tree has a handful (区, 街道, 社区, 网格).
MAX_DEPTH = 16
_LOOPS = -1


def parse_grids(features: list[Any], problems: list[str]) -> list[Grid]:
    """Read features, recording every problem; structure checks (ids, parents) included.

    The vertex limit is applied feature by feature: reading stops at the feature that
    crosses it. Every check is linear in the number of grids."""
    grids: list[Grid] = []
    seen: set[str] = set()
    vertices = 0
    for i, feature in enumerate(features):
        grid = _check_feature(i, feature, problems)
        if grid is None:
            continue
        if grid.id in seen:
            problems.append(f"feature {i} (id {grid.id!r}): duplicate id")
            continue
        seen.add(grid.id)
        if grid.geometry is not None:
            vertices += len(shapely.get_coordinates(grid.geometry))
            if vertices > MAX_VERTICES:
                problems.append(
                    f"more than the limit of {MAX_VERTICES} vertices by feature {i}: "
                    "the rest is not read"
                )
                return grids
        grids.append(grid)
    parents = {g.parent for g in grids if g.parent is not None}
    problems += check_parents(grids)
    problems += [
        f"grid {g.id!r}: a leaf grid needs a geometry"
        for g in grids
        if g.id not in parents and g.geometry is None
    ]
    return grids


def check_parents(grids: list[Grid]) -> list[str]:
    """Unknown parents, loops and trees deeper than :data:`MAX_DEPTH`, one line each.

    Each grid's depth is found once, memoised down the chain walked to find it, so a file
    whose grids form one long chain costs as much as a flat one."""
    by_id = {g.id: g for g in grids}
    depth: dict[str, int] = {}  # levels of parents above a grid; LOOPS: in or under a loop
    problems: list[str] = []
    for g in grids:
        if g.parent is not None and g.parent not in by_id:
            problems.append(f"grid {g.id!r}: unknown parent {g.parent!r}")
        path: list[str] = []  # g, its parent, ... up to what ends the walk
        on_path: set[str] = set()
        current: str | None = g.id
        while current in by_id and current not in depth and current not in on_path:
            path.append(current)
            on_path.add(current)
            current = by_id[current].parent
        if current in on_path or depth.get(current or "") == _LOOPS:
            for gid in path:
                depth[gid] = _LOOPS
                problems.append(f"grid {gid!r}: parent chain loops through {current!r}")
            continue
        above = depth[current] + 1 if current in depth else 0  # known, or the top
        for gid in reversed(path):
            depth[gid] = above
            if above > MAX_DEPTH:
                problems.append(
                    f"grid {gid!r}: {above} levels of parents, more than the limit of {MAX_DEPTH}"
                )
            above += 1
    return problems


def build_grid_set(grids: list[Grid]) -> GridSet:
    """Buffers and index for checked grids (leaves: grids that no grid names as parent)."""
    parents = {g.parent for g in grids if g.parent is not None}
    leaves = [g for g in grids if g.id not in parents]
    geoms = [g.geometry for g in leaves if g.geometry is not None]
    assert len(geoms) == len(leaves)
    from geofence.index import (  # a kernel module: loaded where it runs (geofence/__init__.py)
        build_index,
        build_raster,
        build_rings,
        flatten,
    )

    flat = flatten(geoms)
    index = build_index(geoms, flat["bbox"])
    coarse = build_index(geoms, flat["bbox"], per_grid=COARSE_BUCKETS_PER_GRID)
    rings = build_rings(flat)
    raster = build_raster(flat, rings, index)
    return GridSet(
        grids=grids,
        ids=[g.id for g in leaves],
        plane=plane_of(leaves),
        rings=rings,
        bbox=flat["bbox"],
        candidates=index,
        coarse=coarse,
        raster=raster,
    )


def check_grid_file(
    path: Path, *, repair: bool = False, source: GridSource | None = None
) -> tuple[list[Grid], list[str], Crs | None]:
    """Read and check a grid file, as WGS-84. Raises :class:`GridFileError` listing every
    problem.

    With ``repair``, geometry problems are fixed where possible. Returns the grids, what
    repair changed and the CRS the file was read in (None: none named, WGS-84 taken).
    ``source``: the import flags (CRS, encoding, field names; docs/cli.md).
    """
    problems: list[str] = []
    features, crs = read_source(path, source or GridSource())
    grids = place_grids(parse_grids(features, problems), crs, problems)
    if problems:
        raise GridFileError(str(path), problems)
    parents = {g.parent for g in grids if g.parent is not None}
    leaf_ids = {g.id for g in grids if g.id not in parents}
    changes: list[str] = []
    if repair:
        grids, changes = repair_grids(grids, leaf_ids)
        problems = [c for c in changes if c.endswith("nothing left after repair")]
    else:
        problems = find_invalid(grids)
    if not problems:
        leaves = [g for g in grids if g.id in leaf_ids]
        problems = find_overlaps(leaves, plane_of(leaves))
    if problems:
        raise GridFileError(str(path), problems)
    return grids, changes, crs


def check_grids(
    path: Path, *, repair: bool = False, source: GridSource | None = None
) -> tuple[list[Grid], list[str]]:
    """:func:`check_grid_file` without the CRS: the grids and what repair changed."""
    grids, changes, _ = check_grid_file(path, repair=repair, source=source)
    return grids, changes


def load_grids(
    path: str | Path, *, repair: bool = False, source: GridSource | None = None
) -> GridSet:
    """Read, check and index a grid file (the format: docs/rules.md, "Grids"; the checks
    and the import flags: docs/cli.md, ``grids check``)."""
    grids, _ = check_grids(Path(path), repair=repair, source=source)
    return build_grid_set(grids)
