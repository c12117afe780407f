"""One grid file in four systems gives one assignment: the demo town's grids written as
WGS-84, GCJ-02 and BD-09 GeoJSON and as a CGCS2000 Gauss-Kruger shapefile (EPSG:4527, GBK
attributes with Chinese field names, pyshp's Writer), each imported with its CRS, place
100,000 random points in the grids the WGS-84 original places them, but for points within
0.5 m of an edge."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import shapely
from shapely.geometry import mapping, shape

from base.datum import Datum, from_wgs84
from geofence.assign import assign
from geofence.generate import irregular_town
from geofence.grids import GridFileError, check_grids, load_grids
from geofence.shapes import Plane
from geofence.sources import GridSource

LON0, LAT0 = 117.16, 39.06  # Zhangjiawo, Tianjin: the demo town
POINTS = 100_000
EDGE_M = 0.5
#: Chinese field names as a command centre's GIS team writes them (8 bytes each in GBK).
FIELDS = {"id": "网格编码", "name": "网格名称", "parent": "上级网格", "interval_min": "巡查间隔"}


def town() -> dict:
    return irregular_town(LON0, LAT0, grids=76, seed=7, service_hours=None)


def converted(fc: dict, fn) -> dict:
    """The collection with every vertex through ``fn`` ((n, 2) -> (n, 2))."""
    features = []
    for f in fc["features"]:
        geometry = f["geometry"]
        if geometry is not None:
            geometry = mapping(shapely.transform(shape(geometry), fn))
        features.append({**f, "geometry": geometry})
    return {**fc, "features": features}


def to_datum(datum: Datum):
    def fn(xy: np.ndarray) -> np.ndarray:
        return np.column_stack(from_wgs84(datum, xy[:, 0], xy[:, 1]))

    return fn


def write_geojson(path: Path, fc: dict) -> Path:
    path.write_text(json.dumps(fc, ensure_ascii=False), encoding="utf-8")
    return path


def write_shapefile(
    path: Path, fc: dict, *, epsg: int = 4527, prj: str | None = "", cpg: str | None = None
) -> Path:
    """``fc`` projected to ``epsg`` as a polygon shapefile with GBK attributes; ``prj``:
    "" for the system's ESRI WKT, None for no .prj, else that text."""
    import shapefile
    from pyproj import CRS, Transformer

    project = Transformer.from_crs("EPSG:4490", f"EPSG:{epsg}", always_xy=True)

    def fn(xy: np.ndarray) -> np.ndarray:
        return np.column_stack(project.transform(xy[:, 0], xy[:, 1]))

    with shapefile.Writer(str(path), shapeType=shapefile.POLYGON, encoding="gbk") as w:
        w.field(FIELDS["id"], "C", size=16)
        w.field(FIELDS["name"], "C", size=40)
        w.field(FIELDS["parent"], "C", size=16)
        w.field(FIELDS["interval_min"], "N", size=6, decimal=0)
        for n, f in enumerate(fc["features"]):
            p = f["properties"]
            # Chinese names, so that the attributes are GBK bytes, not ASCII
            w.record(p["id"], f"张家窝镇第{n}网格", p.get("parent") or "", p.get("interval_min"))
            if f["geometry"] is None:
                w.null()
                continue
            geom = shapely.transform(shape(f["geometry"]), fn)
            rings = []
            for poly in shapely.get_parts(geom):
                poly = shapely.orient_polygons(poly, exterior_cw=True)
                rings.append(list(poly.exterior.coords))
                rings += [list(r.coords) for r in poly.interiors]
            w.poly(rings)
    if prj is not None:
        path.with_suffix(".prj").write_text(prj or CRS.from_epsg(epsg).to_wkt("WKT1_ESRI"))
    if cpg is not None:
        path.with_suffix(".cpg").write_text(cpg)
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, tuple[Path, GridSource]]:
    folder = tmp_path_factory.mktemp("crs")
    fc = town()
    return {
        "wgs84": (write_geojson(folder / "wgs.geojson", fc), GridSource()),
        "gcj02": (
            write_geojson(folder / "gcj.geojson", converted(fc, to_datum(Datum.GCJ02))),
            GridSource(crs="gcj02"),
        ),
        "bd09": (
            write_geojson(folder / "bd.geojson", converted(fc, to_datum(Datum.BD09))),
            GridSource(crs="BD-09"),
        ),
        "shapefile": (
            write_shapefile(folder / "town.shp", fc),  # its .prj says EPSG:4527; no .cpg
            GridSource(fields=FIELDS),
        ),
    }


def near_edges_m(grid_set, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Each point's distance to the nearest leaf boundary, in metres (local plane)."""
    plane = Plane(LON0, LAT0)

    def fn(xy: np.ndarray) -> np.ndarray:
        return np.column_stack(plane.to_xy(xy[:, 0], xy[:, 1]))

    edges = [shapely.transform(g.geometry.boundary, fn) for g in grid_set.leaves]
    tree = shapely.STRtree(edges)
    x, y = plane.to_xy(lon, lat)
    _, distance = tree.query_nearest(shapely.points(x, y), return_distance=True, all_matches=False)
    return distance


@pytest.mark.parametrize("kind", ["wgs84", "gcj02", "bd09", "shapefile"])
def test_every_system_assigns_as_the_original(files, kind):
    original = load_grids(files["wgs84"][0])
    path, source = files[kind]
    imported = load_grids(path, source=source)
    assert imported.ids == original.ids
    rng = np.random.default_rng(11)
    bounds = shapely.total_bounds([g.geometry for g in original.leaves])
    west, south, east, north = bounds
    lon = rng.uniform(west, east, POINTS)
    lat = rng.uniform(south, north, POINTS)
    expected = assign(original, lon, lat)
    found = assign(imported, lon, lat)
    differ = found != expected
    far = near_edges_m(original, lon, lat) > EDGE_M
    assert (expected >= 0).mean() > 0.5  # most points land in a grid: the test says something
    assert not (differ & far).any(), f"{kind}: {int((differ & far).sum())} points differ"
    if kind == "shapefile":
        names = {g.name for g in imported.grids if g.parent is not None}
        assert "张家窝镇第5网格" in names  # GBK attributes read (tried: UTF-8, then GB18030)


def test_a_file_read_in_the_wrong_datum_is_hundreds_of_metres_off(files):
    original = load_grids(files["wgs84"][0])
    as_wgs = load_grids(files["gcj02"][0])  # a GCJ-02 file taken for WGS-84
    a = original.leaves[10].geometry.centroid
    b = as_wgs.leaves[10].geometry.centroid
    plane = Plane(LON0, LAT0)
    dx, dy = plane.to_xy(np.array([a.x, b.x]), np.array([a.y, b.y]))
    assert 540 < float(np.hypot(dx[1] - dx[0], dy[1] - dy[0])) < 580


def test_the_geojson_crs_member_is_read(tmp_path, files):
    fc = json.loads(files["gcj02"][0].read_text(encoding="utf-8"))
    fc["crs"] = {"type": "name", "properties": {"name": "GCJ-02"}}
    grids, _ = check_grids(write_geojson(tmp_path / "named.geojson", fc))
    leaf = next(g for g in grids if g.id == "G011")
    original = next(g for g in check_grids(files["wgs84"][0])[0] if g.id == "G011")
    assert shapely.hausdorff_distance(leaf.geometry, original.geometry) < 1e-7


def test_projected_coordinates_without_a_crs_are_refused_in_one_line(tmp_path, files):
    from pyproj import Transformer

    project = Transformer.from_crs("EPSG:4490", "EPSG:4527", always_xy=True)
    fc = converted(town(), lambda xy: np.column_stack(project.transform(xy[:, 0], xy[:, 1])))
    path = write_geojson(tmp_path / "metres.geojson", fc)
    with pytest.raises(GridFileError) as err:
        check_grids(path)
    assert len(err.value.problems) == 1
    assert err.value.problems[0].startswith("coordinates up to 39,")
    assert "projected metres, not longitude and latitude" in err.value.problems[0]
    grids, _ = check_grids(path, source=GridSource(crs="EPSG:4527"))
    assert len(grids) == 80
    # and degrees said to be metres: one line too
    with pytest.raises(GridFileError) as err:
        check_grids(
            write_geojson(tmp_path / "deg.geojson", town()), source=GridSource(crs="EPSG:4548")
        )
    assert err.value.problems == [
        "EPSG:4548 is a projection in metres, yet every coordinate is within 180: longitude "
        "and latitude? (then --crs wgs84, gcj02, bd09 or EPSG:4490)"
    ]


def test_geojson_fields_mapped_by_flags_numeric_codes_as_ids(tmp_path):
    """A GeoJSON export with Chinese property names and numeric codes (A1 -> 1201161,
    G005 -> 120116005): codes become text ids, an empty parent none."""

    def code(gid: str) -> int:
        return 120116000 + int(gid[1:]) if gid.startswith("G") else 1201160 + int(gid[1:])

    fc = town()
    parents = {f["properties"]["id"]: f["properties"].get("parent") for f in fc["features"]}
    for f in fc["features"]:
        p = f["properties"]
        up = p.get("parent")
        f["properties"] = {
            "网格编码": code(p["id"]),
            "网格名称": f"网格{code(p['id'])}",
            "上级网格": code(up) if up is not None else "",
        }
    path = write_geojson(tmp_path / "coded.geojson", fc)
    fields = {k: v for k, v in FIELDS.items() if k != "interval_min"}
    grids, _ = check_grids(path, source=GridSource(fields=fields))
    by_id = {g.id: g for g in grids}
    assert by_id["120116005"].parent == str(code(parents["G005"]))
    assert by_id["1201161"].parent is None and by_id["1201161"].name == "网格1201161"
    with pytest.raises(GridFileError) as err:
        check_grids(path)  # our own names: no field id
    assert err.value.problems == [
        "no field 'id' for the grids' id (fields: 上级网格, 网格名称, 网格编码)"
    ]
