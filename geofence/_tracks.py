"""Numba kernels over tracks: segments crossing grids, and coverage cells near fixes.

Kernels take flat contiguous arrays and write into output arrays their caller allocates.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from geofence._rings import Candidates, RingBuffers, frame_of, grid_covers, slab_of


@njit(cache=True)
def _first_entry(
    g: int,
    ax: float,
    ay: float,
    bx: float,
    by: float,
    rings: RingBuffers,
) -> float:
    """Smallest t in [0, 1] where a + t (b - a) meets a boundary of grid g, or -1."""
    xs, ys, slab_geom, slab_int = rings.xs, rings.ys, rings.slab_geom, rings.slab_int
    slab_off, slab_edges = rings.slab_off, rings.slab_edges
    rx = bx - ax
    ry = by - ay
    rr = rx * rx + ry * ry
    best = 2.0
    base = slab_int[g, 0]
    k = slab_int[g, 1]
    s_lo = slab_of(min(ay, by), slab_geom[g, 0], slab_geom[g, 1], k)
    s_hi = slab_of(max(ay, by), slab_geom[g, 0], slab_geom[g, 1], k)
    # an edge the segment meets shares a y with it, so it is listed in one of these slabs
    for s in range(base + s_lo, base + s_hi + 1):
        for e in range(slab_off[s], slab_off[s + 1]):
            i = slab_edges[e]
            x1 = xs[i]
            y1 = ys[i]
            sx = xs[i + 1] - x1
            sy = ys[i + 1] - y1
            qx = x1 - ax
            qy = y1 - ay
            denom = rx * sy - ry * sx
            if denom == 0.0:
                # parallel: only a collinear overlap meets the edge
                if qx * ry - qy * rx != 0.0 or rr == 0.0:
                    continue
                t0 = (qx * rx + qy * ry) / rr
                t1 = ((qx + sx) * rx + (qy + sy) * ry) / rr
                t_lo = max(0.0, min(t0, t1))
                if t_lo <= min(1.0, max(t0, t1)) and t_lo < best:
                    best = t_lo
                continue
            t = (qx * sy - qy * sx) / denom
            u = (qx * ry - qy * rx) / denom
            # proper or touching intersection inside both segments
            if 0.0 <= t <= 1.0 and 0.0 <= u <= 1.0 and t < best:
                best = t
    return best if best <= 1.0 else -1.0


@njit(cache=True)
def find_crossings(
    device: np.ndarray,
    ts: np.ndarray,
    lon: np.ndarray,
    lat: np.ndarray,
    grid: np.ndarray,
    max_dt: float,
    rings: RingBuffers,
    candidates: Candidates,
    out_grid: np.ndarray,
    out_time: np.ndarray,
) -> int:
    """Visits by crossing: a segment (consecutive fixes of a device, 0 < dt <= max_dt) that
    meets a grid holding neither of its ends visits it at the interpolated time of entry.

    Rows are sorted by (device, ts). Writes up to len(out_grid) visits; returns how many were
    found (more than the capacity means: call again with bigger outputs)."""
    bbox, index_origin, index_shape = candidates.bbox, candidates.origin, candidates.shape
    bucket_off, bucket_items = candidates.bucket_off, candidates.bucket_items
    x0, y0, inv_w, inv_h, nx, ny = frame_of(index_origin, index_shape)
    seen = np.full(len(bbox), -1, dtype=np.int64)
    found = 0
    for i in range(len(ts) - 1):
        j = i + 1
        if device[i] != device[j]:
            continue
        dt = ts[j] - ts[i]
        if dt <= 0.0 or dt > max_dt:
            continue
        ax = lon[i]
        ay = lat[i]
        bx = lon[j]
        by = lat[j]
        sx0 = min(ax, bx)
        sx1 = max(ax, bx)
        sy0 = min(ay, by)
        sy1 = max(ay, by)
        cx0 = max(0, int((sx0 - x0) * inv_w))
        cx1 = min(nx - 1, int((sx1 - x0) * inv_w))
        cy0 = max(0, int((sy0 - y0) * inv_h))
        cy1 = min(ny - 1, int((sy1 - y0) * inv_h))
        for cy in range(cy0, cy1 + 1):
            for cx in range(cx0, cx1 + 1):
                b = cy * nx + cx
                for k in range(bucket_off[b], bucket_off[b + 1]):
                    g = bucket_items[k]
                    if g == grid[i] or g == grid[j] or seen[g] == i:
                        continue
                    seen[g] = i
                    if sx1 < bbox[g, 0] or sx0 > bbox[g, 2] or sy1 < bbox[g, 1] or sy0 > bbox[g, 3]:
                        continue
                    t = _first_entry(g, ax, ay, bx, by, rings)
                    if t >= 0.0:
                        if found < len(out_grid):
                            out_grid[found] = g
                            out_time[found] = ts[i] + t * dt
                        found += 1
    return found


@njit(cache=True)
def _segment_end(
    i: int, ts: np.ndarray, x: np.ndarray, y: np.ndarray, device: np.ndarray, max_dt: float
) -> tuple[float, float]:
    """The far end of fix i's segment: the next fix of its device when 0 < dt <= max_dt, or
    fix i itself (a point)."""
    if i + 1 < len(ts) and device[i + 1] == device[i]:
        dt = ts[i + 1] - ts[i]
        if dt > 0.0 and dt <= max_dt:
            return x[i + 1], y[i + 1]
    return x[i], y[i]


@njit(cache=True)
def _reach_box(
    ax: float,
    ay: float,
    bx: float,
    by: float,
    cell_m: float,
    reach_m: float,
    i0: int,
    j0: int,
    nx: int,
    ny: int,
) -> tuple[int, int, int, int]:
    """Raster columns and rows (inclusive) whose cell centres may lie within reach of a-b."""
    lo_i = max(int(np.ceil((min(ax, bx) - reach_m) / cell_m - 0.5)) - i0, 0)
    hi_i = min(int(np.floor((max(ax, bx) + reach_m) / cell_m - 0.5)) - i0, nx - 1)
    lo_j = max(int(np.ceil((min(ay, by) - reach_m) / cell_m - 0.5)) - j0, 0)
    hi_j = min(int(np.floor((max(ay, by) + reach_m) / cell_m - 0.5)) - j0, ny - 1)
    return lo_i, hi_i, lo_j, hi_j


@njit(cache=True)
def _near(ax: float, ay: float, bx: float, by: float, cx: float, cy: float, reach2: float) -> bool:
    """Whether (cx, cy) lies within sqrt(reach2) of the segment a-b (a point when a == b)."""
    rx = bx - ax
    ry = by - ay
    rr = rx * rx + ry * ry
    t = 0.0
    if rr > 0.0:
        t = min(1.0, max(0.0, ((cx - ax) * rx + (cy - ay) * ry) / rr))
    dx = ax + t * rx - cx
    dy = ay + t * ry - cy
    return dx * dx + dy * dy <= reach2


@njit(cache=True)
def mark_cells(
    ts: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    device: np.ndarray,
    max_dt: float,
    cell_m: float,
    reach_m: float,
    i0: int,
    j0: int,
    nx: int,
    ny: int,
    stamp: np.ndarray,
    value: int,
) -> None:
    """stamp[cell] = value for every cell whose centre lies within reach_m of a fix or of a
    segment (consecutive fixes of a device, 0 < dt <= max_dt). x, y in plane metres."""
    reach2 = reach_m * reach_m
    for i in range(len(ts)):
        ax = x[i]
        ay = y[i]
        bx, by = _segment_end(i, ts, x, y, device, max_dt)
        lo_i, hi_i, lo_j, hi_j = _reach_box(ax, ay, bx, by, cell_m, reach_m, i0, j0, nx, ny)
        for jj in range(lo_j, hi_j + 1):
            cy = (jj + j0 + 0.5) * cell_m
            for ii in range(lo_i, hi_i + 1):
                if _near(ax, ay, bx, by, (ii + i0 + 0.5) * cell_m, cy, reach2):
                    stamp[jj * nx + ii] = value


@njit(cache=True)
def collect_cells(
    ts: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    device: np.ndarray,
    max_dt: float,
    cell_m: float,
    reach_m: float,
    i0: int,
    j0: int,
    nx: int,
    ny: int,
    keep: np.ndarray,
    last: np.ndarray,
    out_device: np.ndarray,
    out_cell: np.ndarray,
) -> int:
    """The (device, cell) pairs that ``mark_cells`` would stamp, each once, for the cells
    with ``keep[cell]`` (cells of some leaf). Rows sorted by device; ``last`` is scratch of
    the raster's size filled with -1. Writes up to len(out_cell) pairs; returns how many
    there are (more than the capacity means: call again with bigger outputs)."""
    reach2 = reach_m * reach_m
    found = 0
    for i in range(len(ts)):
        ax = x[i]
        ay = y[i]
        bx, by = _segment_end(i, ts, x, y, device, max_dt)
        lo_i, hi_i, lo_j, hi_j = _reach_box(ax, ay, bx, by, cell_m, reach_m, i0, j0, nx, ny)
        for jj in range(lo_j, hi_j + 1):
            cy = (jj + j0 + 0.5) * cell_m
            for ii in range(lo_i, hi_i + 1):
                cell = jj * nx + ii
                if not keep[cell] or last[cell] == device[i]:
                    continue
                if _near(ax, ay, bx, by, (ii + i0 + 0.5) * cell_m, cy, reach2):
                    last[cell] = device[i]
                    if found < len(out_cell):
                        out_device[found] = device[i]
                        out_cell[found] = cell
                    found += 1
    return found


@njit(cache=True)
def cells_inside(
    g: int,
    lon: np.ndarray,
    lat: np.ndarray,
    rings: RingBuffers,
    out: np.ndarray,
) -> None:
    for i in range(len(lon)):
        out[i] = grid_covers(
            g,
            lon[i],
            lat[i],
            rings,
        )
