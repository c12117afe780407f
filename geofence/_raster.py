"""The raster that places most points with one lookup, and its cell records (Numba).

Cells that no boundary touches carry their grid; cells that edges touch carry a record that
places a point from one contiguous read; the rest goes to the exact tests in _rings.

What a point costs (measured at 1,652 grids on the bench's disc town and on a square of
unspaced Voronoi seeds, bench/RESULTS.md "issue 21"): one label read at random (every
point: the raster's bytes against the cache), then, for the points in cells that edges
touch, their record. That share is the boundary's length per unit of area times the cell's
size: 11.7 % on the disc (30 % of its box lies outside every grid, answered by the label)
and 14.1 % on the square (no outside) at 524,288 cells. A general record lists on average
2.0 candidate grids and 2.1 edges (a shared border is listed once per grid), 3 orientation
tests per edge with a branch on each grid; 94 % of touched cells are crossed by one segment
and no vertex, so those get a line record (one orientation test, 56 bytes instead of 152),
and with records that cheap the label reads dominate: 262,144 cells (1 MB) beat 524,288.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from geofence._rings import (
    Candidates,
    Raster,
    RingBuffers,
    first_covering,
    frame_of,
    grid_covers,
    orient,
    sure_sign,
)


@njit(cache=True)
def assign_points(
    lon: np.ndarray,
    lat: np.ndarray,
    rings: RingBuffers,
    candidates: Candidates,
    grid_raster: Raster,
    out: np.ndarray,
) -> None:
    """out[i] = first grid (file order) covering point i, or -1.

    A point in a raster cell that no boundary touches takes the cell's label; a point in a
    cell that edges touch is placed by the cell's record, or, near an edge, exactly."""
    raster, records = grid_raster.cells, grid_raster.records
    x0, y0, inv_w, inv_h, nx, ny = frame_of(grid_raster.origin, grid_raster.shape)
    # first every point's cell label, noting (without a branch) those that need more
    pending = np.empty(len(lon), dtype=np.int64)
    n_pending = 0
    for i in range(len(lon)):
        fx = (lon[i] - x0) * inv_w
        fy = (lat[i] - y0) * inv_h
        label = -1
        if fx >= 0.0 and fy >= 0.0 and fx < nx and fy < ny:
            label = raster[int(fy) * nx + int(fx)]
        out[i] = label
        pending[n_pending] = i
        n_pending += label < -1
    # then the points in cells that edges touch: the cell's record, or near an edge, exactly
    for j in range(n_pending):
        i = pending[j]
        px = lon[i]
        py = lat[i]
        placed = _place_by_record(px, py, records, -out[i] - 2)
        if placed != -2:
            out[i] = placed
            continue
        out[i] = first_covering(px, py, rings, candidates)


@njit(cache=True, inline="always")
def _edge_touches_box(
    x1: float, y1: float, x2: float, y2: float, bx0: float, by0: float, bx1: float, by1: float
) -> bool:
    """Whether the segment may touch the box (conservative: a near miss counts)."""
    if max(x1, x2) < bx0 or min(x1, x2) > bx1 or max(y1, y2) < by0 or min(y1, y2) > by1:
        return False
    dx = x2 - x1
    dy = y2 - y1
    # all four corners strictly on one side of the edge's line: untouched
    f00 = (bx0 - x1) * dy - (by0 - y1) * dx
    f01 = (bx0 - x1) * dy - (by1 - y1) * dx
    f10 = (bx1 - x1) * dy - (by0 - y1) * dx
    f11 = (bx1 - x1) * dy - (by1 - y1) * dx
    if f00 > 0.0 and f01 > 0.0 and f10 > 0.0 and f11 > 0.0:
        return False
    return not (f00 < 0.0 and f01 < 0.0 and f10 < 0.0 and f11 < 0.0)


@njit(cache=True)
def list_touched_cells(
    xs: np.ndarray,
    ys: np.ndarray,
    ring_off: np.ndarray,
    raster_origin: np.ndarray,
    nx: int,
    ny: int,
    margin: float,
    cell_off: np.ndarray,
    cell_edges: np.ndarray,
) -> None:
    """Which edges may touch each raster cell (the cell enlarged by margin, far more than
    any rounding of a point's cell index). With cell_edges empty, counts them per cell into
    cell_off[c + 1]; else writes them, cell_off[c] being where cell c's list starts."""
    x0 = raster_origin[0]
    y0 = raster_origin[1]
    w = 1.0 / raster_origin[2]
    h = 1.0 / raster_origin[3]
    fill = len(cell_edges) > 0
    for r in range(len(ring_off) - 1):
        for i in range(ring_off[r], ring_off[r + 1] - 1):
            x1 = xs[i]
            y1 = ys[i]
            x2 = xs[i + 1]
            y2 = ys[i + 1]
            ix0 = max(0, int((min(x1, x2) - margin - x0) / w) - 1)
            ix1 = min(nx - 1, int((max(x1, x2) + margin - x0) / w) + 1)
            iy0 = max(0, int((min(y1, y2) - margin - y0) / h) - 1)
            iy1 = min(ny - 1, int((max(y1, y2) + margin - y0) / h) + 1)
            for iy in range(iy0, iy1 + 1):
                by0 = y0 + iy * h - margin
                by1 = y0 + (iy + 1) * h + margin
                for ix in range(ix0, ix1 + 1):
                    bx0 = x0 + ix * w - margin
                    bx1 = x0 + (ix + 1) * w + margin
                    if _edge_touches_box(x1, y1, x2, y2, bx0, by0, bx1, by1):
                        c = iy * nx + ix
                        if fill:
                            cell_edges[cell_off[c]] = i
                            cell_off[c] += 1
                        else:
                            cell_off[c + 1] += 1


#: Values per edge in a cell record: ax, ay, bx, by, side of the reference point.
_EDGE_VALUES = 5
#: Cells touched by more edges get no record (their points are tested against the slabs).
_MAX_RECORD_EDGES = 32
#: Candidate points for a cell's reference, as fractions of the cell (centre first).
_REFERENCE_TRIES = ((0.5, 0.5), (0.37, 0.61), (0.71, 0.29), (0.23, 0.83))
#: A record's first value: its candidate count (>= 0), or one of these kinds.
_EXACT = -1.0  # no usable reference point, or too many edges: test exactly
_LINE = -2.0  # one segment crosses the cell: ax, ay, bx, by, grid on its left, on its right


@njit(cache=True)
def _line_record(
    xs: np.ndarray,
    ys: np.ndarray,
    cell_edges: np.ndarray,
    e0: int,
    e1: int,
    box: tuple[float, float, float, float],
    margin: float,
    rings: RingBuffers,
    candidates: Candidates,
    out: np.ndarray,
    at: int,
) -> bool:
    """Write a line record at ``at`` when every edge touching the cell is one segment (a
    border shared by grids lists it once per grid) whose ends lie outside the cell enlarged
    by the margin: the segment then cuts the cell in two parts that no other boundary meets,
    each wholly in one grid (or none), whose grid is the exact answer at any point of it."""
    i = cell_edges[e0]
    ax, ay, bx, by = xs[i], ys[i], xs[i + 1], ys[i + 1]
    for k in range(e0 + 1, e1):
        j = cell_edges[k]
        same = xs[j] == ax and ys[j] == ay and xs[j + 1] == bx and ys[j + 1] == by
        if not (same or (xs[j] == bx and ys[j] == by and xs[j + 1] == ax and ys[j + 1] == ay)):
            return False
    x0, y0, x1, y1 = box  # the cell enlarged by the margin
    for px, py in ((ax, ay), (bx, by)):
        if x0 <= px <= x1 and y0 <= py <= y1:
            return False
    # the cell's corners lie in it (enlarged): the exact answer at one strictly on either
    # side is its part's; a side without a corner holds no point of the cell but by
    # rounding, and leaves such a point to the exact test (-2)
    left = -2
    right = -2
    for u in range(4):
        sx = x0 + margin if u % 2 == 0 else x1 - margin
        sy = y0 + margin if u < 2 else y1 - margin
        side = orient(ax, ay, bx, by, sx, sy)
        if side > 0:
            left = first_covering(sx, sy, rings, candidates)
        elif side < 0:
            right = first_covering(sx, sy, rings, candidates)
    out[at] = _LINE
    out[at + 1] = ax
    out[at + 2] = ay
    out[at + 3] = bx
    out[at + 4] = by
    out[at + 5] = left
    out[at + 6] = right
    return True


@njit(cache=True)
def build_cell_records(
    rings: RingBuffers,
    candidates: Candidates,
    poly_grid: np.ndarray,
    raster_origin: np.ndarray,
    nx: int,
    margin: float,
    cell_off: np.ndarray,
    cell_edges: np.ndarray,
    raster: np.ndarray,
) -> np.ndarray:
    """A record for each cell that edges touch, so its points are placed from one
    contiguous read. A cell that one segment crosses (most of them) gets a line record: the
    grids on either side of it. Any other gets a reference point R in the cell, then per
    candidate grid (file order) whether it covers R and the edges of it touching the cell. A
    point p is covered by a candidate when R is, flipped by each edge that pR properly crosses.

    Record layout (float64): _LINE, ax, ay, bx, by, grid on the left, grid on the right; or
    count, Rx, Ry, then per candidate: grid, covers R, edge count, then per edge ax, ay, bx,
    by, side of R; or _EXACT (no usable R or too many edges: test exactly). The raster label
    of the cell becomes -(start + 2). Returns the records."""
    xs, ys, vertex_ring, ring_poly = rings.xs, rings.ys, rings.vertex_ring, rings.ring_poly
    bbox, index_origin, index_shape = candidates.bbox, candidates.origin, candidates.shape
    bucket_off, bucket_items = candidates.bucket_off, candidates.bucket_items
    n_grids = len(bbox)
    w = 1.0 / raster_origin[2]
    h = 1.0 / raster_origin[3]
    cand = np.zeros(n_grids, dtype=np.int64)  # per grid: touching edges in this cell
    stamp = np.full(n_grids, -1, dtype=np.int64)  # cell that last listed the grid
    listed = np.empty(n_grids, dtype=np.int64)
    # room for the longest records possible: every edge's grid and every bucket item listed
    widest_bucket = np.max(bucket_off[1:] - bucket_off[:-1]) if len(bucket_off) > 1 else 0
    touched = cell_off[1:] - cell_off[:-1]
    room = np.where(touched > _MAX_RECORD_EDGES, 1, 3 + 8 * touched + 3 * widest_bucket)
    out = np.empty(int(np.sum(np.where(touched > 0, room, 0))))
    at = 0
    for c in range(len(raster)):
        e0 = cell_off[c]
        e1 = cell_off[c + 1]
        if e0 == e1:
            continue
        cx0 = raster_origin[0] + (c % nx) * w
        cy0 = raster_origin[1] + (c // nx) * h
        raster[c] = -(at + 2)
        box = (cx0 - margin, cy0 - margin, cx0 + w + margin, cy0 + h + margin)
        # one segment across the cell: its sides' grids, no reference point
        few = e1 - e0 <= _MAX_RECORD_EDGES
        if few and _line_record(
            xs, ys, cell_edges, e0, e1, box, margin, rings, candidates, out, at
        ):
            at += 7
            continue
        rx = 0.0
        ry = 0.0
        found = False
        # a cell crowded with edges (a very detailed boundary) is tested exactly instead
        for t in range(len(_REFERENCE_TRIES) if e1 - e0 <= _MAX_RECORD_EDGES else 0):
            rx = cx0 + _REFERENCE_TRIES[t][0] * w
            ry = cy0 + _REFERENCE_TRIES[t][1] * h
            found = True
            for k in range(e0, e1):
                i = cell_edges[k]
                if orient(xs[i], ys[i], xs[i + 1], ys[i + 1], rx, ry) == 0:
                    found = False
                    break
            if found:
                break
        if not found:
            out[at] = _EXACT
            at += 1
            continue
        # candidates: grids with edges here, and grids covering R (listed in R's bucket)
        m = 0
        for k in range(e0, e1):
            g = poly_grid[ring_poly[vertex_ring[cell_edges[k]]]]
            if stamp[g] != c:
                stamp[g] = c
                cand[g] = 0
                listed[m] = g
                m += 1
            cand[g] += 1
        bx = int((rx - index_origin[0]) * index_origin[2])
        by = int((ry - index_origin[1]) * index_origin[3])
        b = min(index_shape[1] - 1, max(0, by)) * index_shape[0]
        b += min(index_shape[0] - 1, max(0, bx))
        for k in range(bucket_off[b], bucket_off[b + 1]):
            g = bucket_items[k]
            if stamp[g] != c and grid_covers(g, rx, ry, rings):
                stamp[g] = c
                cand[g] = 0
                listed[m] = g
                m += 1
        out[at] = m
        out[at + 1] = rx
        out[at + 2] = ry
        at += 3
        for g in np.sort(listed[:m]):
            # a grid without edges here was listed because it covers R
            covers = cand[g] == 0 or grid_covers(g, rx, ry, rings)
            out[at] = g
            out[at + 1] = 1.0 if covers else 0.0
            out[at + 2] = cand[g]
            at += 3
            for k in range(e0, e1):
                i = cell_edges[k]
                if poly_grid[ring_poly[vertex_ring[i]]] == g:
                    out[at] = xs[i]
                    out[at + 1] = ys[i]
                    out[at + 2] = xs[i + 1]
                    out[at + 3] = ys[i + 1]
                    out[at + 4] = orient(xs[i], ys[i], xs[i + 1], ys[i + 1], rx, ry)
                    at += _EDGE_VALUES
    return out[:at].copy()


@njit(cache=True, inline="always")
def _place_by_record(px: float, py: float, rec: np.ndarray, at: int) -> int:
    """The first candidate of the record covering the point (-1: none), or -2 when the
    record cannot decide (no reference point, or the point is on or near an edge)."""
    kind = rec[at]
    if kind == _LINE:
        # one segment across the cell: the grid of the point's side of it
        side = sure_sign(rec[at + 1], rec[at + 2], rec[at + 3], rec[at + 4], px, py)
        if side == 0.0:
            return -2
        # -2 on a side without a corner: a point there by rounding is tested exactly
        return int(rec[at + 5]) if side > 0.0 else int(rec[at + 6])
    count = int(kind)
    if count < 0:
        return -2
    rx = rec[at + 1]
    ry = rec[at + 2]
    k = at + 3
    for _ in range(count):
        g = int(rec[k])
        inside = rec[k + 1] != 0.0
        edges = int(rec[k + 2])
        k += 3
        for _ in range(edges):
            ax = rec[k]
            ay = rec[k + 1]
            bx = rec[k + 2]
            by = rec[k + 3]
            side_r = rec[k + 4]
            k += _EDGE_VALUES
            side_p = sure_sign(ax, ay, bx, by, px, py)
            side_a = sure_sign(px, py, rx, ry, ax, ay)
            side_b = sure_sign(px, py, rx, ry, bx, by)
            if side_p == 0.0 or side_a == 0.0 or side_b == 0.0:
                return -2
            # pR properly crosses the edge: p and R on either side of it, a and b of pR
            inside ^= (side_p != side_r) & (side_a != side_b)
        if inside:
            return g
    return -1


@njit(cache=True)
def label_cells(
    rings: RingBuffers,
    candidates: Candidates,
    raster_origin: np.ndarray,
    nx: int,
    ny: int,
    raster: np.ndarray,
) -> None:
    """Every cell no edge touches (label -1 so far) is wholly inside one grid or outside
    all: its label is the exact answer at its centre."""
    w = 1.0 / raster_origin[2]
    h = 1.0 / raster_origin[3]
    for iy in range(ny):
        cy = raster_origin[1] + (iy + 0.5) * h
        for ix in range(nx):
            c = iy * nx + ix
            if raster[c] != -1:
                continue
            raster[c] = first_covering(raster_origin[0] + (ix + 0.5) * w, cy, rings, candidates)
