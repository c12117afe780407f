"""Flat coordinate buffers and the bucket index of the leaf grids."""

from __future__ import annotations

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from geofence._raster import build_cell_records, label_cells, list_touched_cells
from geofence._rings import Candidates, Raster, RingBuffers, build_slabs

#: Buckets per leaf grid in the index of candidate grids (more: fewer candidates per bucket).
BUCKETS_PER_GRID = 256
MAX_BUCKETS = 2_000_000
#: Raster cells per leaf grid (more: fewer points need an exact test, more memory).
RASTER_CELLS_PER_GRID = 4096
#: At most 1 MB of int32 labels. Every point reads one label at random, so above this the
#: lookups' cache misses cost more than the records they spare (geofence/_raster.py: at 1,652
#: grids 262,144 cells beat 131,072 and 524,288 on both bench sets, bench/RESULTS.md).
MAX_RASTER_CELLS = 262_144
#: Edges per horizontal slab a grid's boundary is cut into (fewer: faster tests, more memory).
EDGES_PER_SLAB = 1
#: Boxes are enlarged by this (degrees) so rounding at a bucket edge never misplaces a point.
BOX_MARGIN = 1e-9


def polygons_of(geom: BaseGeometry) -> list[shapely.Polygon]:
    if isinstance(geom, shapely.Polygon):
        return [geom]
    return [g for g in getattr(geom, "geoms", []) if isinstance(g, shapely.Polygon)]


def build_rings(flat: dict[str, np.ndarray]) -> RingBuffers:
    ring_off, poly_off, grid_off = flat["ring_off"], flat["poly_off"], flat["grid_off"]
    geom, ints, off, edges = build_slabs(
        flat["ys"], ring_off, poly_off, grid_off, flat["bbox"], EDGES_PER_SLAB
    )
    return RingBuffers(
        xs=flat["xs"],
        ys=flat["ys"],
        vertex_ring=np.repeat(np.arange(len(ring_off) - 1, dtype=np.int32), np.diff(ring_off)),
        ring_poly=np.repeat(np.arange(len(poly_off) - 1, dtype=np.int32), np.diff(poly_off)),
        poly_off=poly_off,
        slab_geom=geom,
        slab_int=ints,
        slab_off=off,
        slab_edges=edges,
    )


def flatten(geoms: list[BaseGeometry]) -> dict[str, np.ndarray]:
    """Coordinates of every ring (closed) with ring, polygon and grid offsets."""
    xs: list[np.ndarray] = []
    ring_off = [0]
    poly_off = [0]
    grid_off = [0]
    for geom in geoms:
        for poly in polygons_of(geom):
            for ring in (poly.exterior, *poly.interiors):
                coords = np.asarray(ring.coords, dtype=np.float64)[:, :2]
                xs.append(coords)
                ring_off.append(ring_off[-1] + len(coords))
            poly_off.append(len(ring_off) - 1)
        grid_off.append(len(poly_off) - 1)
    coords = np.concatenate(xs) if xs else np.empty((0, 2))
    return {
        "xs": np.ascontiguousarray(coords[:, 0]),
        "ys": np.ascontiguousarray(coords[:, 1]),
        "ring_off": np.asarray(ring_off, dtype=np.int64),
        "poly_off": np.asarray(poly_off, dtype=np.int64),
        "grid_off": np.asarray(grid_off, dtype=np.int64),
        "bbox": np.ascontiguousarray(shapely.bounds(np.asarray(geoms, dtype=object))),
    }


def uniform_frame(bbox: np.ndarray, cells: int) -> tuple[np.ndarray, np.ndarray]:
    """About ``cells`` square-ish cells over the boxes (enlarged by BOX_MARGIN): the origin
    (x0, y0, cells per degree in x and y) and shape (nx, ny) the kernels read."""
    x0, y0 = bbox[:, 0].min() - BOX_MARGIN, bbox[:, 1].min() - BOX_MARGIN
    width = bbox[:, 2].max() + BOX_MARGIN - x0
    height = bbox[:, 3].max() + BOX_MARGIN - y0
    size = float(np.sqrt(width * height / cells))
    nx = max(1, int(np.ceil(width / size)))
    ny = max(1, int(np.ceil(height / size)))
    origin = np.array([x0, y0, nx / width, ny / height])
    return origin, np.array([nx, ny], dtype=np.int64)


def build_index(
    geoms: list[BaseGeometry], bbox: np.ndarray, per_grid: int = BUCKETS_PER_GRID
) -> Candidates:
    """A uniform bucket grid over the leaves: per bucket its candidate grids in file order.
    Returns the kernels' Candidates: bbox, origin (x0, y0, 1/w, 1/h), shape, offsets, items."""
    origin, shape = uniform_frame(bbox, min(MAX_BUCKETS, max(16, per_grid * len(geoms))))
    x0, y0 = origin[0], origin[1]
    w, h = 1.0 / origin[2], 1.0 / origin[3]
    nx, ny = int(shape[0]), int(shape[1])
    candidates: list[list[int]] = [[] for _ in range(nx * ny)]
    for g, geom in enumerate(geoms):
        shapely.prepare(geom)
        ix0 = max(0, int((bbox[g, 0] - x0) / w) - 1)
        ix1 = min(nx - 1, int((bbox[g, 2] - x0) / w) + 1)
        iy0 = max(0, int((bbox[g, 1] - y0) / h) - 1)
        iy1 = min(ny - 1, int((bbox[g, 3] - y0) / h) + 1)
        gx, gy = np.meshgrid(np.arange(ix0, ix1 + 1), np.arange(iy0, iy1 + 1))
        ix, iy = gx.ravel(), gy.ravel()
        boxes = shapely.box(
            x0 + ix * w - BOX_MARGIN,
            y0 + iy * h - BOX_MARGIN,
            x0 + (ix + 1) * w + BOX_MARGIN,
            y0 + (iy + 1) * h + BOX_MARGIN,
        )
        for b in (iy * nx + ix)[shapely.intersects(geom, boxes)]:
            candidates[b].append(g)
    off = np.zeros(nx * ny + 1, dtype=np.int64)
    off[1:] = np.cumsum([len(c) for c in candidates])
    items = np.fromiter((g for c in candidates for g in c), dtype=np.int32, count=int(off[-1]))
    return Candidates(bbox=bbox, origin=origin, shape=shape, bucket_off=off, bucket_items=items)


def build_raster(flat: dict[str, np.ndarray], rings: RingBuffers, candidates: Candidates) -> Raster:
    """A fine raster over the leaves: per cell the grid holding all of it, -1 (no grid), or
    for a cell that edges may touch, -(start + 2) of its record (see build_cell_records).
    Most points are answered by one lookup, most others by one record."""
    bbox = flat["bbox"]
    total = min(MAX_RASTER_CELLS, max(16, RASTER_CELLS_PER_GRID * len(bbox)))
    origin, shape = uniform_frame(bbox, total)
    nx, ny = int(shape[0]), int(shape[1])
    raster = np.full(nx * ny, -1, dtype=np.int32)
    args = (rings.xs, rings.ys, flat["ring_off"], origin, nx, ny, BOX_MARGIN)
    cell_off = np.zeros(nx * ny + 1, dtype=np.int64)
    list_touched_cells(*args, cell_off, np.empty(0, dtype=np.int32))
    np.cumsum(cell_off, out=cell_off)
    cell_edges = np.empty(int(cell_off[-1]), dtype=np.int32)
    list_touched_cells(*args, cell_off[:-1].copy(), cell_edges)
    poly_grid = np.repeat(np.arange(len(bbox), dtype=np.int32), np.diff(flat["grid_off"]))
    records = build_cell_records(
        rings, candidates, poly_grid, origin, nx, BOX_MARGIN, cell_off, cell_edges, raster
    )
    label_cells(rings, candidates, origin, nx, ny, raster)
    return Raster(origin=origin, shape=shape, cells=raster, records=records)
