"""All Numba code of the geofence stage and nothing else.

Kernels take flat contiguous arrays (coordinates, ring/polygon/grid offsets, a bucket
index) and write into output arrays their caller allocates.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_EPS = 2.0**-53
_CCW_ERRBOUND_A = (3.0 + 16.0 * _EPS) * _EPS
_SPLITTER = 134217729.0  # 2^27 + 1

OUTSIDE = 0
INSIDE = 1
BOUNDARY = 2


@njit(cache=True, inline="always")
def _two_sum(a: float, b: float) -> tuple[float, float]:
    x = a + b
    bv = x - a
    av = x - bv
    return x, (a - av) + (b - bv)


@njit(cache=True, inline="always")
def _two_prod(a: float, b: float) -> tuple[float, float]:
    x = a * b
    c = _SPLITTER * a
    ahi = c - (c - a)
    alo = a - ahi
    c = _SPLITTER * b
    bhi = c - (c - b)
    blo = b - bhi
    err = alo * blo - (((x - ahi * bhi) - alo * bhi) - ahi * blo)
    return x, err


@njit(cache=True)
def _orient_exact(ax: float, ay: float, bx: float, by: float, cx: float, cy: float) -> int:
    """Exact sign of (a - c) x (b - c), by expansion arithmetic (Shewchuk)."""
    acx, acx0 = _two_sum(ax, -cx)
    bcy, bcy0 = _two_sum(by, -cy)
    acy, acy0 = _two_sum(ay, -cy)
    bcx, bcx0 = _two_sum(bx, -cx)
    terms = np.empty(16)
    ps = (acx, acx, acx0, acx0, acy, acy, acy0, acy0)
    qs = (bcy, bcy0, bcy, bcy0, bcx, bcx0, bcx, bcx0)
    for k in range(8):
        hi, lo = _two_prod(ps[k], qs[k])
        sign = 1.0 if k < 4 else -1.0
        terms[2 * k] = sign * hi
        terms[2 * k + 1] = sign * lo
    expansion = np.zeros(17)
    n = 0
    for i in range(16):
        q = terms[i]
        for j in range(n):
            q, h = _two_sum(q, expansion[j])
            expansion[j] = h
        expansion[n] = q
        n += 1
    for j in range(n - 1, -1, -1):
        if expansion[j] > 0.0:
            return 1
        if expansion[j] < 0.0:
            return -1
    return 0


@njit(cache=True, inline="always")
def orient(ax: float, ay: float, bx: float, by: float, cx: float, cy: float) -> int:
    """+1 if a, b, c turn counter-clockwise, -1 clockwise, 0 collinear; exact."""
    detleft = (ax - cx) * (by - cy)
    detright = (ay - cy) * (bx - cx)
    det = detleft - detright
    if detleft > 0.0:
        if detright <= 0.0:
            return 1 if det > 0.0 else (-1 if det < 0.0 else 0)
        detsum = detleft + detright
    elif detleft < 0.0:
        if detright >= 0.0:
            return 1 if det > 0.0 else (-1 if det < 0.0 else 0)
        detsum = -detleft - detright
    else:
        return 1 if det > 0.0 else (-1 if det < 0.0 else 0)
    bound = _CCW_ERRBOUND_A * detsum
    if det >= bound:
        return 1
    if -det >= bound:
        return -1
    return _orient_exact(ax, ay, bx, by, cx, cy)


@njit(cache=True)
def locate_in_ring(
    px: float, py: float, xs: np.ndarray, ys: np.ndarray, start: int, end: int
) -> int:
    """OUTSIDE, INSIDE or BOUNDARY of the closed ring xs/ys[start:end] (GEOS ray crossing)."""
    crossings = 0
    for i in range(start, end - 1):
        x1 = xs[i]
        y1 = ys[i]
        x2 = xs[i + 1]
        y2 = ys[i + 1]
        # segment wholly left of the point: the rightward ray cannot meet it
        if x1 < px and x2 < px:
            continue
        # the point is a vertex
        if px == x2 and py == y2:
            return BOUNDARY
        # horizontal segment at the point's height: on it or not counted
        if y1 == py and y2 == py:
            if min(x1, x2) <= px <= max(x1, x2):
                return BOUNDARY
            continue
        # upward edges include their start, downward edges their end
        if (y1 > py and y2 <= py) or (y2 > py and y1 <= py):
            o = orient(x1, y1, x2, y2, px, py)
            # collinear with a straddling edge: on the edge
            if o == 0:
                return BOUNDARY
            if y2 < y1:
                o = -o
            if o > 0:
                crossings += 1
    return INSIDE if crossings % 2 == 1 else OUTSIDE


@njit(cache=True)
def grid_covers(
    g: int,
    px: float,
    py: float,
    xs: np.ndarray,
    ys: np.ndarray,
    ring_off: np.ndarray,
    poly_off: np.ndarray,
    grid_off: np.ndarray,
) -> bool:
    """True when grid g covers the point: interior or boundary, holes excluded, hole edges in."""
    for p in range(grid_off[g], grid_off[g + 1]):
        r0 = poly_off[p]
        shell = locate_in_ring(px, py, xs, ys, ring_off[r0], ring_off[r0 + 1])
        if shell == OUTSIDE:
            continue
        if shell == BOUNDARY:
            return True
        in_hole = False
        for r in range(r0 + 1, poly_off[p + 1]):
            where = locate_in_ring(px, py, xs, ys, ring_off[r], ring_off[r + 1])
            # on a hole's edge the point is still in the polygon
            if where == BOUNDARY:
                return True
            if where == INSIDE:
                in_hole = True
                break
        if not in_hole:
            return True
    return False


@njit(cache=True)
def assign_points(
    lon: np.ndarray,
    lat: np.ndarray,
    xs: np.ndarray,
    ys: np.ndarray,
    ring_off: np.ndarray,
    poly_off: np.ndarray,
    grid_off: np.ndarray,
    bbox: np.ndarray,
    index_origin: np.ndarray,
    index_shape: np.ndarray,
    bucket_full: np.ndarray,
    bucket_off: np.ndarray,
    bucket_items: np.ndarray,
    out: np.ndarray,
) -> None:
    """out[i] = first grid (file order) covering point i, or -1."""
    x0 = index_origin[0]
    y0 = index_origin[1]
    inv_w = index_origin[2]
    inv_h = index_origin[3]
    nx = index_shape[0]
    ny = index_shape[1]
    for i in range(len(lon)):
        px = lon[i]
        py = lat[i]
        out[i] = -1
        fx = (px - x0) * inv_w
        fy = (py - y0) * inv_h
        if not (fx >= 0.0 and fy >= 0.0 and fx < nx and fy < ny):
            continue
        b = int(fy) * nx + int(fx)
        full = bucket_full[b]
        # the bucket lies well inside one grid and touches no other
        if full >= 0:
            out[i] = full
            continue
        for k in range(bucket_off[b], bucket_off[b + 1]):
            g = bucket_items[k]
            if px < bbox[g, 0] or px > bbox[g, 2] or py < bbox[g, 1] or py > bbox[g, 3]:
                continue
            if grid_covers(g, px, py, xs, ys, ring_off, poly_off, grid_off):
                out[i] = g
                break


@njit(cache=True)
def _first_entry(
    g: int,
    ax: float,
    ay: float,
    bx: float,
    by: float,
    xs: np.ndarray,
    ys: np.ndarray,
    ring_off: np.ndarray,
    poly_off: np.ndarray,
    grid_off: np.ndarray,
) -> float:
    """Smallest t in [0, 1] where a + t (b - a) meets a boundary of grid g, or -1."""
    rx = bx - ax
    ry = by - ay
    rr = rx * rx + ry * ry
    best = 2.0
    for p in range(grid_off[g], grid_off[g + 1]):
        for r in range(poly_off[p], poly_off[p + 1]):
            for i in range(ring_off[r], ring_off[r + 1] - 1):
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
                    lo = max(0.0, min(t0, t1))
                    if lo <= min(1.0, max(t0, t1)) and lo < best:
                        best = lo
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
    xs: np.ndarray,
    ys: np.ndarray,
    ring_off: np.ndarray,
    poly_off: np.ndarray,
    grid_off: np.ndarray,
    bbox: np.ndarray,
    index_origin: np.ndarray,
    index_shape: np.ndarray,
    bucket_off: np.ndarray,
    bucket_items: np.ndarray,
    out_grid: np.ndarray,
    out_time: np.ndarray,
) -> int:
    """Visits by crossing: a segment (consecutive fixes of a device, 0 < dt <= max_dt) that
    meets a grid holding neither of its ends visits it at the interpolated time of entry.

    Rows are sorted by (device, ts). Writes up to len(out_grid) visits; returns how many were
    found (more than the capacity means: call again with bigger outputs)."""
    x0 = index_origin[0]
    y0 = index_origin[1]
    inv_w = index_origin[2]
    inv_h = index_origin[3]
    nx = index_shape[0]
    ny = index_shape[1]
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
                    t = _first_entry(g, ax, ay, bx, by, xs, ys, ring_off, poly_off, grid_off)
                    if t >= 0.0:
                        if found < len(out_grid):
                            out_grid[found] = g
                            out_time[found] = ts[i] + t * dt
                        found += 1
    return found


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
    n = len(ts)
    for i in range(n):
        ax = x[i]
        ay = y[i]
        bx = ax
        by = ay
        if i + 1 < n and device[i + 1] == device[i]:
            dt = ts[i + 1] - ts[i]
            # the segment to the next fix counts when it is short enough in time
            if dt > 0.0 and dt <= max_dt:
                bx = x[i + 1]
                by = y[i + 1]
        lo_i = int(np.ceil((min(ax, bx) - reach_m) / cell_m - 0.5)) - i0
        hi_i = int(np.floor((max(ax, bx) + reach_m) / cell_m - 0.5)) - i0
        lo_j = int(np.ceil((min(ay, by) - reach_m) / cell_m - 0.5)) - j0
        hi_j = int(np.floor((max(ay, by) + reach_m) / cell_m - 0.5)) - j0
        lo_i = max(lo_i, 0)
        lo_j = max(lo_j, 0)
        hi_i = min(hi_i, nx - 1)
        hi_j = min(hi_j, ny - 1)
        rx = bx - ax
        ry = by - ay
        rr = rx * rx + ry * ry
        for jj in range(lo_j, hi_j + 1):
            cy = (jj + j0 + 0.5) * cell_m
            for ii in range(lo_i, hi_i + 1):
                cx = (ii + i0 + 0.5) * cell_m
                t = 0.0
                if rr > 0.0:
                    t = min(1.0, max(0.0, ((cx - ax) * rx + (cy - ay) * ry) / rr))
                dx = ax + t * rx - cx
                dy = ay + t * ry - cy
                if dx * dx + dy * dy <= reach2:
                    stamp[jj * nx + ii] = value


@njit(cache=True)
def count_stamped(cells: np.ndarray, start: int, end: int, stamp: np.ndarray, value: int) -> int:
    n = 0
    for k in range(start, end):
        if stamp[cells[k]] == value:
            n += 1
    return n


@njit(cache=True)
def cells_inside(
    g: int,
    lon: np.ndarray,
    lat: np.ndarray,
    xs: np.ndarray,
    ys: np.ndarray,
    ring_off: np.ndarray,
    poly_off: np.ndarray,
    grid_off: np.ndarray,
    out: np.ndarray,
) -> None:
    for i in range(len(lon)):
        out[i] = grid_covers(g, lon[i], lat[i], xs, ys, ring_off, poly_off, grid_off)
