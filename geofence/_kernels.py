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

#: The leaves' boundary buffers: xs, ys, vertex_ring, ring_poly, poly_off, slab_geom,
#: slab_int, slab_off, slab_edges (see geofence.index.Rings).
Rings = tuple[np.ndarray, ...]
#: A bucket index of candidate grids: bbox, origin, shape, bucket_off, bucket_items.
Candidates = tuple[np.ndarray, ...]


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


@njit(cache=True, inline="always")
def _edge_meets_ray(xs: np.ndarray, ys: np.ndarray, i: int, px: float, py: float) -> int:
    """How edge i (xs/ys[i] to [i + 1]) meets the rightward ray from the point (GEOS ray
    crossing): OUTSIDE (not at all), INSIDE (one crossing) or BOUNDARY (the point is on it)."""
    x1 = xs[i]
    y1 = ys[i]
    x2 = xs[i + 1]
    y2 = ys[i + 1]
    # segment wholly left of the point: the rightward ray cannot meet it
    if x1 < px and x2 < px:
        return OUTSIDE
    # the point is a vertex (every vertex ends one edge of a closed ring)
    if px == x2 and py == y2:
        return BOUNDARY
    # horizontal segment at the point's height: on it or not counted
    if y1 == py and y2 == py:
        if min(x1, x2) <= px <= max(x1, x2):
            return BOUNDARY
        return OUTSIDE
    # upward edges include their start, downward edges their end
    if (y1 > py and y2 <= py) or (y2 > py and y1 <= py):
        o = orient(x1, y1, x2, y2, px, py)
        # collinear with a straddling edge: on the edge
        if o == 0:
            return BOUNDARY
        if y2 < y1:
            o = -o
        if o > 0:
            return INSIDE
    return OUTSIDE


@njit(cache=True, inline="always")
def _slab_of(y: float, y0: float, inv: float, k: int) -> int:
    """The slab of height 1/inv above y0 holding y, clamped to [0, k). Monotone in y, so an
    edge whose y-range holds y is always listed in y's slab."""
    s = int((y - y0) * inv)
    return min(k - 1, max(0, s))


@njit(cache=True)
def build_slabs(
    ys: np.ndarray,
    ring_off: np.ndarray,
    poly_off: np.ndarray,
    grid_off: np.ndarray,
    bbox: np.ndarray,
    edges_per_slab: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Cut each grid's bounding box into horizontal slabs and list, per slab, the edges
    whose y-range meets it (in ring order). A point's ray test then reads only its slab.

    Returns slab_geom (per grid: y0, 1/height), slab_int (per grid: first slab, count),
    slab_off (per slab: start in slab_edges) and slab_edges (edge start vertices)."""
    n = len(grid_off) - 1
    slab_geom = np.zeros((n, 2))
    slab_int = np.zeros((n, 2), dtype=np.int64)
    slabs = 0
    items = 0
    for g in range(n):
        r0 = poly_off[grid_off[g]]
        r1 = poly_off[grid_off[g + 1]]
        edges = ring_off[r1] - ring_off[r0] - (r1 - r0)
        y0 = bbox[g, 1]
        height = bbox[g, 3] - y0
        k = max(1, int(edges / edges_per_slab))
        while True:
            inv = k / height if height > 0.0 else 0.0
            count = 0
            for r in range(r0, r1):
                for i in range(ring_off[r], ring_off[r + 1] - 1):
                    lo = _slab_of(min(ys[i], ys[i + 1]), y0, inv, k)
                    hi = _slab_of(max(ys[i], ys[i + 1]), y0, inv, k)
                    count += hi - lo + 1
            # long edges spanning many slabs: fewer slabs keep memory linear in edges
            if k == 1 or count <= 8 * edges + 64:
                break
            k //= 2
        slab_geom[g, 0] = y0
        slab_geom[g, 1] = inv
        slab_int[g, 0] = slabs
        slab_int[g, 1] = k
        slabs += k
        items += count
    slab_off = np.zeros(slabs + 1, dtype=np.int64)
    slab_edges = np.empty(items, dtype=np.int32)
    fill = np.empty(0, dtype=np.int64)
    # first count each slab's edges, then write them where the counts put them
    for phase in range(2):
        for g in range(n):
            y0 = slab_geom[g, 0]
            inv = slab_geom[g, 1]
            base = slab_int[g, 0]
            k = slab_int[g, 1]
            for r in range(poly_off[grid_off[g]], poly_off[grid_off[g + 1]]):
                for i in range(ring_off[r], ring_off[r + 1] - 1):
                    lo = _slab_of(min(ys[i], ys[i + 1]), y0, inv, k)
                    hi = _slab_of(max(ys[i], ys[i + 1]), y0, inv, k)
                    for s in range(base + lo, base + hi + 1):
                        if phase == 0:
                            slab_off[s + 1] += 1
                        else:
                            slab_edges[fill[s]] = i
                            fill[s] += 1
        if phase == 0:
            for s in range(slabs):
                slab_off[s + 1] += slab_off[s]
            fill = slab_off[:-1].copy()
    return slab_geom, slab_int, slab_off, slab_edges


@njit(cache=True, inline="always")
def grid_covers(
    g: int,
    px: float,
    py: float,
    rings: Rings,
) -> bool:
    """True when grid g covers the point: interior or boundary, holes excluded, hole edges in.

    Reads only the edges of the point's slab; they come in ring order, shells before holes."""
    xs, ys, vertex_ring, ring_poly, poly_off, slab_geom, slab_int, slab_off, slab_edges = rings
    s = slab_int[g, 0] + _slab_of(py, slab_geom[g, 0], slab_geom[g, 1], slab_int[g, 1])
    ring = -1
    poly = -1
    odd = False
    shell_in = False
    hole_in = False
    for k in range(slab_off[s], slab_off[s + 1]):
        i = slab_edges[k]
        r = vertex_ring[i]
        if r != ring:
            if odd:
                if ring == poly_off[poly]:
                    shell_in = True
                else:
                    hole_in = True
            p = ring_poly[r]
            if p != poly:
                # the previous polygon is done: inside its shell and in none of its holes
                if shell_in and not hole_in:
                    return True
                poly = p
                shell_in = False
                hole_in = False
            ring = r
            odd = False
        y1 = ys[i]
        y2 = ys[i + 1]
        detleft = (xs[i] - px) * (y2 - py)
        detright = (y1 - py) * (xs[i + 1] - px)
        det = detleft - detright
        if y1 == py or y2 == py or abs(det) <= _CCW_ERRBOUND_A * (abs(detleft) + abs(detright)):
            # at a vertex's height or nearly on the edge's line: the exact test decides
            where = _edge_meets_ray(xs, ys, i, px, py)
            # on any edge, shell or hole, the point is covered
            if where == BOUNDARY:
                return True
            odd ^= where == INSIDE
        else:
            # the sign of det is exact here; written without branches (random points would
            # mispredict them): the edge straddles the ray's height and turns towards it
            odd ^= ((y1 > py) != (y2 > py)) & ((det > 0.0) == (y2 > y1))
    if odd:
        if ring == poly_off[poly]:
            shell_in = True
        else:
            hole_in = True
    return shell_in and not hole_in


@njit(cache=True, inline="always")
def _first_covering(
    px: float,
    py: float,
    rings: Rings,
    candidates: Candidates,
) -> int:
    """The first grid (file order) covering the point, or -1: exact tests of the candidates
    that the point's bucket lists."""
    bbox, index_origin, index_shape, bucket_off, bucket_items = candidates
    fx = (px - index_origin[0]) * index_origin[2]
    fy = (py - index_origin[1]) * index_origin[3]
    nx = index_shape[0]
    if not (fx >= 0.0 and fy >= 0.0 and fx < nx and fy < index_shape[1]):
        return -1
    b = int(fy) * nx + int(fx)
    for k in range(bucket_off[b], bucket_off[b + 1]):
        g = bucket_items[k]
        if px < bbox[g, 0] or px > bbox[g, 2] or py < bbox[g, 1] or py > bbox[g, 3]:
            continue
        if grid_covers(
            g, px, py, rings,
        ):  # fmt: skip
            return g
    return -1


@njit(cache=True)
def assign_points(
    lon: np.ndarray,
    lat: np.ndarray,
    rings: Rings,
    candidates: Candidates,
    raster_origin: np.ndarray,
    raster_shape: np.ndarray,
    raster: np.ndarray,
    records: np.ndarray,
    out: np.ndarray,
) -> None:
    """out[i] = first grid (file order) covering point i, or -1.

    A point in a raster cell that no boundary touches takes the cell's label; a point in a
    cell that edges touch is placed by the cell's record, or, near an edge, exactly."""
    x0 = raster_origin[0]
    y0 = raster_origin[1]
    inv_w = raster_origin[2]
    inv_h = raster_origin[3]
    nx = raster_shape[0]
    ny = raster_shape[1]
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
        out[i] = _first_covering(
            px, py, rings, candidates,
        )  # fmt: skip


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


@njit(cache=True)
def build_cell_records(
    rings: Rings,
    candidates: Candidates,
    poly_grid: np.ndarray,
    raster_origin: np.ndarray,
    nx: int,
    cell_off: np.ndarray,
    cell_edges: np.ndarray,
    raster: np.ndarray,
) -> np.ndarray:
    """A record for each cell that edges touch, so its points are placed from one
    contiguous read: a reference point R in the cell, then per candidate grid (file order)
    whether it covers R and the edges of it touching the cell. A point p is covered by a
    candidate when R is, flipped by each edge that the segment pR properly crosses.

    Record layout (float64): count, Rx, Ry, then per candidate: grid, covers R, edge count,
    then per edge ax, ay, bx, by, side of R. count -1: no usable R or too many edges, test
    exactly. The
    raster label of the cell becomes -(start + 2). Returns the records."""
    xs, ys, vertex_ring, ring_poly, _, _, _, _, _ = rings
    bbox, index_origin, index_shape, bucket_off, bucket_items = candidates
    n_grids = len(bbox)
    w = 1.0 / raster_origin[2]
    h = 1.0 / raster_origin[3]
    cand = np.zeros(n_grids, dtype=np.int64)  # per grid: touching edges in this cell
    stamp = np.full(n_grids, -1, dtype=np.int64)  # cell that last listed the grid
    listed = np.empty(n_grids, dtype=np.int64)
    size = 0
    out = np.empty(0)
    for phase in range(2):
        if phase == 1:
            out = np.empty(size)
        at = 0
        for c in range(len(raster)):
            e0 = cell_off[c]
            e1 = cell_off[c + 1]
            if e0 == e1:
                continue
            cx0 = raster_origin[0] + (c % nx) * w
            cy0 = raster_origin[1] + (c // nx) * h
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
            if phase == 1:
                raster[c] = -(at + 2)
            if not found:
                if phase == 1:
                    out[at] = -1.0
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
                if stamp[g] != c and grid_covers(
                    g, rx, ry, rings,
                ):  # fmt: skip
                    stamp[g] = c
                    cand[g] = 0
                    listed[m] = g
                    m += 1
            head = at
            at += 3
            for g in np.sort(listed[:m]):
                if phase == 1:
                    out[at] = g
                    out[at + 1] = 1.0 if grid_covers(
                        g, rx, ry, rings,
                    ) else 0.0  # fmt: skip
                    out[at + 2] = cand[g]
                at += 3
                for k in range(e0, e1):
                    i = cell_edges[k]
                    if poly_grid[ring_poly[vertex_ring[i]]] != g:
                        continue
                    if phase == 1:
                        out[at] = xs[i]
                        out[at + 1] = ys[i]
                        out[at + 2] = xs[i + 1]
                        out[at + 3] = ys[i + 1]
                        out[at + 4] = orient(xs[i], ys[i], xs[i + 1], ys[i + 1], rx, ry)
                    at += _EDGE_VALUES
            if phase == 1:
                out[head] = m
                out[head + 1] = rx
                out[head + 2] = ry
        size = at
    return out


@njit(cache=True, inline="always")
def _sure_sign(ax: float, ay: float, bx: float, by: float, cx: float, cy: float) -> float:
    """The sign (+1 or -1) of orient(a, b, c) when floating point is sure of it, else 0."""
    detleft = (ax - cx) * (by - cy)
    detright = (ay - cy) * (bx - cx)
    det = detleft - detright
    if abs(det) <= _CCW_ERRBOUND_A * (abs(detleft) + abs(detright)):
        return 0.0
    return 1.0 if det > 0.0 else -1.0


@njit(cache=True, inline="always")
def _place_by_record(px: float, py: float, rec: np.ndarray, at: int) -> int:
    """The first candidate of the record covering the point (-1: none), or -2 when the
    record cannot decide (no reference point, or the point is on or near an edge)."""
    count = int(rec[at])
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
            side_p = _sure_sign(ax, ay, bx, by, px, py)
            side_a = _sure_sign(px, py, rx, ry, ax, ay)
            side_b = _sure_sign(px, py, rx, ry, bx, by)
            if side_p == 0.0 or side_a == 0.0 or side_b == 0.0:
                return -2
            # pR properly crosses the edge: p and R on either side of it, a and b of pR
            inside ^= (side_p != side_r) & (side_a != side_b)
        if inside:
            return g
    return -1


@njit(cache=True)
def label_cells(
    rings: Rings,
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
            raster[c] = _first_covering(
                raster_origin[0] + (ix + 0.5) * w, cy, rings, candidates,
            )  # fmt: skip


@njit(cache=True)
def _first_entry(
    g: int,
    ax: float,
    ay: float,
    bx: float,
    by: float,
    rings: Rings,
) -> float:
    """Smallest t in [0, 1] where a + t (b - a) meets a boundary of grid g, or -1."""
    xs, ys, _, _, _, slab_geom, slab_int, slab_off, slab_edges = rings
    rx = bx - ax
    ry = by - ay
    rr = rx * rx + ry * ry
    best = 2.0
    base = slab_int[g, 0]
    k = slab_int[g, 1]
    s_lo = _slab_of(min(ay, by), slab_geom[g, 0], slab_geom[g, 1], k)
    s_hi = _slab_of(max(ay, by), slab_geom[g, 0], slab_geom[g, 1], k)
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
    rings: Rings,
    candidates: Candidates,
    out_grid: np.ndarray,
    out_time: np.ndarray,
) -> int:
    """Visits by crossing: a segment (consecutive fixes of a device, 0 < dt <= max_dt) that
    meets a grid holding neither of its ends visits it at the interpolated time of entry.

    Rows are sorted by (device, ts). Writes up to len(out_grid) visits; returns how many were
    found (more than the capacity means: call again with bigger outputs)."""
    bbox, index_origin, index_shape, bucket_off, bucket_items = candidates
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
                    t = _first_entry(g, ax, ay, bx, by, rings)
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
    rings: Rings,
    out: np.ndarray,
) -> None:
    for i in range(len(lon)):
        out[i] = grid_covers(
            g,
            lon[i],
            lat[i],
            rings,
        )
