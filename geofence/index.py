"""Flat coordinate buffers and the bucket index of the leaf grids."""

from __future__ import annotations

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

#: Buckets per leaf grid in the index (more: more buckets answered without a polygon test).
BUCKETS_PER_GRID = 256
MAX_BUCKETS = 2_000_000
#: Boxes are enlarged by this (degrees) so rounding at a bucket edge never misplaces a point.
BOX_MARGIN = 1e-9


def polygons_of(geom: BaseGeometry) -> list[shapely.Polygon]:
    if isinstance(geom, shapely.Polygon):
        return [geom]
    return [g for g in getattr(geom, "geoms", []) if isinstance(g, shapely.Polygon)]


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


def build_index(
    geoms: list[BaseGeometry], bbox: np.ndarray, per_grid: int = BUCKETS_PER_GRID
) -> dict[str, np.ndarray]:
    """A uniform bucket grid over the leaves: per bucket its candidate grids in file order,
    and the one grid that covers it with room to spare (or -1)."""
    x0, y0 = bbox[:, 0].min() - BOX_MARGIN, bbox[:, 1].min() - BOX_MARGIN
    x1, y1 = bbox[:, 2].max() + BOX_MARGIN, bbox[:, 3].max() + BOX_MARGIN
    total = min(MAX_BUCKETS, max(16, per_grid * len(geoms)))
    width, height = x1 - x0, y1 - y0
    size = float(np.sqrt(width * height / total))
    nx = max(1, int(np.ceil(width / size)))
    ny = max(1, int(np.ceil(height / size)))
    w, h = width / nx, height / ny
    candidates: list[list[int]] = [[] for _ in range(nx * ny)]
    full_grid = np.full(nx * ny, -1, dtype=np.int32)
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
        hit = shapely.intersects(geom, boxes)
        inside = shapely.contains_properly(geom, boxes) & hit
        for b, full in zip(iy[hit] * nx + ix[hit], inside[hit], strict=True):
            candidates[b].append(g)
            if full:
                full_grid[b] = g
    off = np.zeros(nx * ny + 1, dtype=np.int64)
    off[1:] = np.cumsum([len(c) for c in candidates])
    items = np.fromiter((g for c in candidates for g in c), dtype=np.int32, count=int(off[-1]))
    single = np.diff(off) == 1
    full = np.where(single, full_grid, -1).astype(np.int32)
    return {
        "index_origin": np.array([x0, y0, 1.0 / w, 1.0 / h]),
        "index_shape": np.array([nx, ny], dtype=np.int64),
        "bucket_full": full,
        "bucket_off": off,
        "bucket_items": items,
    }
