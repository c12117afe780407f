"""Assignment against shapely's covers (first-listed wins): random and adversarial points."""

from __future__ import annotations

import functools
import json
import tempfile
from pathlib import Path

import numpy as np
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.data import voronoi_grid_file
from geofence.assign import assign
from geofence.generate import irregular_town, square_grids
from geofence.grids import load_grids
from tests.geofence.town import feature, shapely_first_covering


def _town(tmp_path, fc):
    path = tmp_path / "grids.geojson"
    path.write_text(json.dumps(fc))
    grid_set = load_grids(path)
    return grid_set, [grid_set.by_id[i].geometry for i in grid_set.ids]


def test_a_million_random_points_agree_with_shapely(tmp_path):
    grid_set, geoms = _town(tmp_path, irregular_town(117.16, 39.06, seed=3))
    rng = np.random.default_rng(11)
    b = grid_set.bbox
    lon = rng.uniform(b[:, 0].min() - 0.002, b[:, 2].max() + 0.002, 1_000_000)
    lat = rng.uniform(b[:, 1].min() - 0.002, b[:, 3].max() + 0.002, 1_000_000)
    got = assign(grid_set, lon, lat)
    assert (got >= 0).mean() > 0.5
    np.testing.assert_array_equal(got, shapely_first_covering(geoms, lon, lat))


def adversarial_points(geoms: list) -> tuple[np.ndarray, np.ndarray]:
    """Vertices, edge midpoints (holes too), and points 1e-9 degrees off each edge."""
    pts = []
    for geom in geoms:
        for poly in shapely.get_parts(geom):
            for ring in (poly.exterior, *poly.interiors):
                c = np.asarray(ring.coords)
                a, b = c[:-1], c[1:]
                mid = (a + b) / 2
                d = b - a
                normal = np.column_stack([-d[:, 1], d[:, 0]])
                normal /= np.maximum(np.linalg.norm(normal, axis=1, keepdims=True), 1e-300)
                pts += [a, mid, mid + 1e-9 * normal, mid - 1e-9 * normal, a + 1e-9 * normal]
    all_pts = np.concatenate(pts)
    return all_pts[:, 0].copy(), all_pts[:, 1].copy()


def test_vertices_edges_holes_and_near_misses_agree_with_shapely(tmp_path):
    grid_set, geoms = _town(tmp_path, irregular_town(117.16, 39.06, seed=5))
    assert any(len(p.interiors) for g in geoms for p in shapely.get_parts(g)), "a hole is tested"
    lon, lat = adversarial_points(geoms)
    np.testing.assert_array_equal(
        assign(grid_set, lon, lat), shapely_first_covering(geoms, lon, lat)
    )


def test_shared_borders_and_corners_go_to_the_first_listed(tmp_path):
    grid_set, geoms = _town(tmp_path, square_grids((117.0, 39.0, 117.004, 39.003), 100))
    lon, lat = adversarial_points(geoms)
    got = assign(grid_set, lon, lat)
    np.testing.assert_array_equal(got, shapely_first_covering(geoms, lon, lat))
    # a corner shared by four cells belongs to the first of them in the file
    corner = np.asarray(geoms[0].exterior.coords)[2]  # north-east corner of R0C0
    assert grid_set.ids[assign(grid_set, corner[:1], corner[1:2])[0]] == "R0C0"


@functools.cache
def _small_town() -> tuple:
    path = Path(tempfile.mkdtemp()) / "g.geojson"
    path.write_text(json.dumps(irregular_town(117.16, 39.06, grids=12, seed=9)))
    grid_set = load_grids(path)
    return grid_set, [grid_set.by_id[i].geometry for i in grid_set.ids]


@settings(max_examples=300, deadline=None)
@given(
    u=st.floats(0, 1),
    v=st.floats(0, 1),
    off=st.sampled_from([0.0, 1e-9, -1e-9, 1e-12, 5e-7]),
)
def test_hypothesis_points_on_and_near_edges(u, v, off):
    grid_set, geoms = _small_town()
    coords = np.concatenate(
        [
            np.asarray(r.coords)
            for g in geoms
            for p in shapely.get_parts(g)
            for r in (p.exterior, *p.interiors)
        ]
    )
    k = int(u * (len(coords) - 2))
    a, b = coords[k], coords[k + 1]
    p = a + v * (b - a) + off
    lon, lat = np.array([p[0]]), np.array([p[1]])
    assert assign(grid_set, lon, lat)[0] == shapely_first_covering(geoms, lon, lat)[0]


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_random_star_polygons_with_holes_agree_with_shapely(seed):
    """Grids of random star-shaped rings (some with a hole, some overlapping the one before)
    over random points, points on their vertices and points 1e-9 off them.

    The first star is valid by construction, so every example tests at least one grid: at
    least 6 vertices at evenly spaced angles keep each edge at least 0.2e-3 x cos(30°) =
    1.7e-4 from the centre, outside the hole of radius 1e-4."""
    rng = np.random.default_rng(seed)
    features, geoms = [], []
    for k in range(int(rng.integers(1, 6))):
        n = int(rng.integers(3, 40)) if k else int(rng.integers(6, 40))
        angles = (
            np.sort(rng.uniform(0, 2 * np.pi, n))
            if k
            else np.linspace(0, 2 * np.pi, n, endpoint=False)
        )
        radius = rng.uniform(0.2, 1.0, n) * 1e-3
        cx, cy = 117.0 + rng.uniform(0, 5e-3), 39.0 + rng.uniform(0, 5e-3)
        shell = np.column_stack([cx + radius * np.cos(angles), cy + radius * np.sin(angles)])
        rings = [[*shell.tolist(), shell[0].tolist()]]
        if rng.random() < 0.5:
            hole = np.column_stack(
                [cx + 1e-4 * np.cos(angles[::-1]), cy + 1e-4 * np.sin(angles[::-1])]
            )
            rings.append([*hole.tolist(), hole[0].tolist()])
        polygon = shapely.Polygon(rings[0], rings[1:])
        if k and (not polygon.is_valid or any(polygon.overlaps(g) for g in geoms)):
            continue
        assert polygon.is_valid, "the first star is valid by construction"
        geoms.append(polygon)
        features.append(feature(f"g{k}", rings))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "stars.geojson"
        path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
        grid_set = load_grids(path)
    lon = rng.uniform(116.998, 117.007, 20_000)
    lat = rng.uniform(38.998, 39.007, 20_000)
    near_lon, near_lat = adversarial_points(geoms)
    lon, lat = np.concatenate([lon, near_lon]), np.concatenate([lat, near_lat])
    np.testing.assert_array_equal(
        assign(grid_set, lon, lat), shapely_first_covering(geoms, lon, lat)
    )


@functools.cache
def _voronoi_district() -> tuple:
    """The bench's second district: 1,652 Voronoi grids of unspaced seeds under 17 parents."""
    grid_set = load_grids(voronoi_grid_file(Path(tempfile.mkdtemp())))
    return grid_set, [grid_set.by_id[i].geometry for i in grid_set.ids]


def test_the_voronoi_district_agrees_with_shapely_on_random_and_adversarial_points():
    grid_set, geoms = _voronoi_district()
    assert len(geoms) == 1652
    rng = np.random.default_rng(12)
    b = grid_set.bbox
    lon = rng.uniform(b[:, 0].min() - 0.002, b[:, 2].max() + 0.002, 300_000)
    lat = rng.uniform(b[:, 1].min() - 0.002, b[:, 3].max() + 0.002, 300_000)
    near_lon, near_lat = adversarial_points(geoms)
    lon, lat = np.concatenate([lon, near_lon]), np.concatenate([lat, near_lat])
    got = assign(grid_set, lon, lat)
    assert (got >= 0).mean() > 0.5
    np.testing.assert_array_equal(got, shapely_first_covering(geoms, lon, lat))


def test_points_at_the_corners_of_cells_that_one_border_crosses_agree_with_shapely():
    """A cell that one segment crosses is answered by the side of the segment (a line
    record); its corners, and points 1e-12 off them, are where a cell's part may be a sliver
    or empty. Most cells that edges touch are such cells in a Voronoi district."""
    grid_set, geoms = _voronoi_district()
    raster = grid_set.raster
    touched = np.flatnonzero(raster.cells < -1)
    line = touched[raster.records[-raster.cells[touched] - 2] == -2.0]
    assert len(line) > 0.9 * len(touched)
    nx = int(raster.shape[0])
    x0, y0, per_x, per_y = raster.origin
    lon = np.concatenate([x0 + (line % nx + dx) / per_x for dx in (0, 1) for _ in (0, 1)])
    lat = np.concatenate([y0 + (line // nx + dy) / per_y for _ in (0, 1) for dy in (0, 1)])
    lon = np.concatenate([lon, lon + 1e-12, lon - 1e-12, lon])
    lat = np.concatenate([lat, lat - 1e-12, lat + 1e-12, lat + 1e-12])
    np.testing.assert_array_equal(
        assign(grid_set, lon, lat), shapely_first_covering(geoms, lon, lat)
    )
