"""Exact tests of points and segments against grid boundaries (Numba).

Orientation is exact (Shewchuk's adaptive expansion arithmetic); a point's ray test reads
only the edges of its grid's horizontal slab. Kernels take flat contiguous arrays.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

_EPS = 2.0**-53
_CCW_ERRBOUND_A = (3.0 + 16.0 * _EPS) * _EPS
_SPLITTER = 134217729.0  # 2^27 + 1

OUTSIDE = 0
INSIDE = 1
BOUNDARY = 2


class RingBuffers(NamedTuple):
    """The leaves' boundaries as flat buffers, with their edges listed per horizontal slab
    of each grid: what the kernels read to test a point or a segment against a grid."""

    xs: np.ndarray  # float64 vertex x (lon), every ring closed
    ys: np.ndarray  # float64 vertex y (lat)
    vertex_ring: np.ndarray  # int32: ring of the edge starting at each vertex
    ring_poly: np.ndarray  # int32: polygon of each ring
    poly_off: np.ndarray  # first ring of each polygon (its shell; holes follow)
    slab_geom: np.ndarray  # float64 (grids, 2): lowest y, slabs per degree
    slab_int: np.ndarray  # int64 (grids, 2): first slab, slab count
    slab_off: np.ndarray  # per slab: start in slab_edges
    slab_edges: np.ndarray  # edge start vertices, ring order within a slab


class Raster(NamedTuple):
    """A fine raster over the leaves that answers most points with one lookup."""

    origin: np.ndarray  # float64 (4,): x0, y0, cells per unit x, per unit y
    shape: np.ndarray  # int64 (2,): cells along x, along y
    cells: np.ndarray  # int32 per cell: a grid holding all of it, -1 none, -(record + 2)
    records: np.ndarray  # per touched cell: the grids' sides of its edges (build_cell_records)


class Candidates(NamedTuple):
    """A uniform bucket index of the grids that may hold a point (or meet a segment)."""

    bbox: np.ndarray  # float64 (grids, 4): min x, min y, max x, max y per grid
    origin: np.ndarray  # float64 (4,): x0, y0, buckets per unit x, per unit y
    shape: np.ndarray  # int64 (2,): buckets along x, along y
    bucket_off: np.ndarray  # int64: bucket b lists bucket_items[bucket_off[b]:bucket_off[b+1]]
    bucket_items: np.ndarray  # int32 grid indices, file order within a bucket


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
def frame_of(origin: np.ndarray, shape: np.ndarray) -> tuple[float, float, float, float, int, int]:
    """A uniform grid's x0, y0, cells per degree in x and y, and cell counts nx, ny."""
    return origin[0], origin[1], origin[2], origin[3], shape[0], shape[1]


@njit(cache=True, inline="always")
def slab_of(y: float, y0: float, inv: float, k: int) -> int:
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
                    lo = slab_of(min(ys[i], ys[i + 1]), y0, inv, k)
                    hi = slab_of(max(ys[i], ys[i + 1]), y0, inv, k)
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
                    lo = slab_of(min(ys[i], ys[i + 1]), y0, inv, k)
                    hi = slab_of(max(ys[i], ys[i + 1]), y0, inv, k)
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
def sure_sign(ax: float, ay: float, bx: float, by: float, cx: float, cy: float) -> float:
    """The sign (+1 or -1) of orient(a, b, c) when floating point is sure of it, else 0."""
    detleft = (ax - cx) * (by - cy)
    detright = (ay - cy) * (bx - cx)
    det = detleft - detright
    if abs(det) <= _CCW_ERRBOUND_A * (abs(detleft) + abs(detright)):
        return 0.0
    return 1.0 if det > 0.0 else -1.0


@njit(cache=True, inline="always")
def grid_covers(
    g: int,
    px: float,
    py: float,
    rings: RingBuffers,
) -> bool:
    """True when grid g covers the point: interior or boundary, holes excluded, hole edges in.

    Reads only the edges of the point's slab; they come in ring order, shells before holes."""
    xs, ys, vertex_ring, ring_poly = rings.xs, rings.ys, rings.vertex_ring, rings.ring_poly
    poly_off, slab_geom, slab_int = rings.poly_off, rings.slab_geom, rings.slab_int
    slab_off, slab_edges = rings.slab_off, rings.slab_edges
    s = slab_int[g, 0] + slab_of(py, slab_geom[g, 0], slab_geom[g, 1], slab_int[g, 1])
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
        side = sure_sign(xs[i], y1, xs[i + 1], y2, px, py)
        if y1 == py or y2 == py or side == 0.0:
            # at a vertex's height or nearly on the edge's line: the exact test decides
            where = _edge_meets_ray(xs, ys, i, px, py)
            # on any edge, shell or hole, the point is covered
            if where == BOUNDARY:
                return True
            odd ^= where == INSIDE
        else:
            # written without branches (random points would mispredict them): the edge
            # straddles the ray's height and turns towards the point
            odd ^= ((y1 > py) != (y2 > py)) & ((side > 0.0) == (y2 > y1))
    if odd:
        if ring == poly_off[poly]:
            shell_in = True
        else:
            hole_in = True
    return shell_in and not hole_in


@njit(cache=True, inline="always")
def first_covering(
    px: float,
    py: float,
    rings: RingBuffers,
    candidates: Candidates,
) -> int:
    """The first grid (file order) covering the point, or -1: exact tests of the candidates
    that the point's bucket lists."""
    bbox, index_origin, index_shape = candidates.bbox, candidates.origin, candidates.shape
    bucket_off, bucket_items = candidates.bucket_off, candidates.bucket_items
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
        if grid_covers(g, px, py, rings):
            return g
    return -1
