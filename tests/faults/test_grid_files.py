"""Hostile and huge grid files: a million vertices costs bounded time and memory and is
placed exactly; over the limits, odd ids and broken files, one clear line per problem."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from geofence.assign import assign
from geofence.generate import square_grids
from geofence.gridfile import MAX_JSON_VALUES, MAX_VERTICES, GridFileError
from geofence.grids import MAX_DEPTH, check_grids, load_grids
from tests.geofence.test_assign import adversarial_points
from tests.geofence.town import feature, rect, shapely_first_covering

#: Peak memory allowed for importing a file with a million vertices (documented in rules.md).
PEAK_RSS_LIMIT_KB = 1_500_000


def wavy_ring(n: int, cx: float, cy: float, r: float) -> list[list[float]]:
    """A closed ring of n vertices: a circle with 50 waves, so no three vertices align."""
    a = np.linspace(0.0, 2.0 * np.pi, n, endpoint=False)
    rr = r * (1.0 + 0.1 * np.sin(50.0 * a))
    ring = np.column_stack([cx + rr * np.cos(a), cy + rr * np.sin(a)]).tolist()
    return [*ring, ring[0]]


def write(path: Path, features: list[dict]) -> Path:
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


#: Runs the CLI, then writes its peak RSS (VmHWM: this process only, from its exec on) to
#: the file named by the first argument.
_MEASURED = """
import atexit, sys
from gridpatrol.cli import main
def peak():
    hwm = [x for x in open("/proc/self/status") if x.startswith("VmHWM:")][0]
    open(sys.argv[1], "w").write(hwm.split()[1])
atexit.register(peak)
sys.exit(main(sys.argv[2:]))
"""


def run_measured(folder: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], int]:
    """Run the CLI; returns its result and its peak RSS in KB."""
    peak = folder / "peak-kb.txt"
    result = subprocess.run(
        [sys.executable, "-c", _MEASURED, str(peak), *args],
        capture_output=True,
        text=True,
        timeout=600,
    )
    return result, int(peak.read_text())


def test_a_million_vertices_import_in_bounded_memory_and_place_exactly(tmp_path: Path):
    ring = wavy_ring(1_000_000, 117.16, 39.06, 0.01)
    path = write(
        tmp_path / "huge.geojson",
        [
            feature("huge", [ring]),
            feature(
                "next", [[[117.172, 39.05], [117.18, 39.05], [117.18, 39.06], [117.172, 39.05]]]
            ),
        ],
    )
    out, peak_kb = run_measured(
        tmp_path, "grids", "import", str(path), "--db", str(tmp_path / "gp.db")
    )
    assert out.returncode == 0, out.stderr
    assert peak_kb < PEAK_RSS_LIMIT_KB, f"peak RSS {peak_kb} KB"

    grid_set = load_grids(path)
    geoms = [grid_set.by_id[i].geometry for i in grid_set.ids]
    rng = np.random.default_rng(4)
    lon = rng.uniform(117.149, 117.181, 50_000)
    lat = rng.uniform(39.049, 39.071, 50_000)
    near_lon, near_lat = adversarial_points([geoms[1]])
    # every 97th vertex of the huge ring, its edge midpoint and points 1e-9 off
    sample = np.asarray(ring[:-1:97])
    lon = np.concatenate([lon, near_lon, sample[:, 0], sample[:, 0] + 1e-9])
    lat = np.concatenate([lat, near_lat, sample[:, 1], sample[:, 1] - 1e-9])
    np.testing.assert_array_equal(
        assign(grid_set, lon, lat), shapely_first_covering(geoms, lon, lat)
    )


def test_over_the_vertex_limit_is_refused_in_one_line(tmp_path: Path):
    n = MAX_VERTICES // 4 + 1000
    rings = [wavy_ring(n, 117.0 + 0.03 * k, 39.0, 0.01) for k in range(4)]
    path = write(tmp_path / "over.geojson", [feature(f"g{k}", [r]) for k, r in enumerate(rings)])
    out, peak_kb = run_measured(tmp_path, "grids", "check", str(path))
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert f"more than the limit of {MAX_VERTICES}" in out.stderr
    assert peak_kb < 2 * PEAK_RSS_LIMIT_KB, f"peak RSS {peak_kb} KB"


@pytest.mark.parametrize(
    "gid, accepted",
    [
        ("网格 一号", True),
        ('<img src=x onerror="alert(1)">', True),
        ("'; DROP TABLE pings; --", True),
        ("a/b", False),
        ("a+b", False),
        ("#", False),
        ("tab\there", False),
        ("", False),
        ("x" * 129, False),
        (17, False),
    ],
)
def test_odd_ids_are_kept_verbatim_or_refused_clearly(tmp_path: Path, gid: object, accepted: bool):
    path = write(tmp_path / "odd.geojson", [feature(gid, rect(0, 0, 100, 100))])  # type: ignore[arg-type]
    if accepted:
        assert load_grids(path).ids == [gid]
    else:
        with pytest.raises(GridFileError, match="feature 0: property id"):
            load_grids(path)


def test_fifty_thousand_grids_are_checked_in_seconds(tmp_path: Path):
    """A district's worth and more: 50,000 leaves of 100 m under 2,000 parents, two of
    which overlap; the overlap check (a spatial index) and the tree checks are linear."""
    fc = square_grids((117.0, 39.0, 117.0 + 250 * 100 / 86_400, 39.0 + 200 * 100 / 111_000), 100, 5)
    leaves = [f for f in fc["features"] if "parent" in f["properties"]]
    assert len(leaves) >= 50_000
    leaves[1]["geometry"] = leaves[0]["geometry"]  # R..0C..1 lies on R..0C..0
    path = tmp_path / "district.geojson"
    path.write_text(json.dumps(fc))
    started = time.perf_counter()
    with pytest.raises(GridFileError) as err:
        check_grids(path)
    took = time.perf_counter() - started
    first, second = leaves[0]["properties"]["id"], leaves[1]["properties"]["id"]
    [problem] = err.value.problems
    assert problem.startswith(f"grids {first!r} and {second!r} overlap by "), problem
    assert took < 30, f"{took:.1f} s"  # about 5 s here; the pairwise checks took hours


def test_a_long_parent_chain_is_refused_in_linear_time(tmp_path: Path):
    n = 50_000
    features = [feature(f"g{i}", None, parent=f"g{i - 1}" if i else None) for i in range(n)]
    features.append(feature("leaf", rect(0, 0, 10, 10), parent=f"g{n - 1}"))
    started = time.perf_counter()
    with pytest.raises(GridFileError) as err:
        check_grids(write(tmp_path / "chain.geojson", features))
    assert time.perf_counter() - started < 10
    assert err.value.problems[0] == (
        f"grid 'g{MAX_DEPTH + 1}': {MAX_DEPTH + 1} levels of parents, more than the limit of "
        f"{MAX_DEPTH}"
    )


def test_too_many_json_values_are_refused_before_parsing_in_bounded_memory(tmp_path: Path):
    """32 MiB of empty arrays in a property: 11 million values, 0 vertices. Parsed whole
    it took 0.8 GB (2.8 GB at the 128 MiB file limit); counted on the bytes, it is refused
    with the file's bytes in memory."""
    junk = "[]," * (32 * 2**20 // 3)
    text = (
        '{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": '
        f'{{"id": "a", "junk": [{junk}[]]}}, "geometry": null}}]}}'
    )
    path = tmp_path / "junk.geojson"
    path.write_text(text)
    out, peak_kb = run_measured(tmp_path, "grids", "check", str(path))
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert f"more than the limit of {MAX_JSON_VALUES}" in out.stderr
    assert peak_kb < 400_000, f"peak RSS {peak_kb} KB"


def test_every_bad_number_is_one_line_never_a_traceback(tmp_path: Path):
    huge = "9" * 5000  # over Python's 4,300 digits for int(): a traceback before
    big = "1" + "0" * 400  # an int too large for a float: OverflowError in shapely before
    ring = f"[[117.0, 39.0], [117.001, 39.0], [{big}, 39.001], [117.0, 39.0]]"
    text = (
        '{"type": "FeatureCollection", "features": ['
        f'{{"type": "Feature", "properties": {{"id": "a", "interval_min": {huge}}}, '
        '"geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]}},'
        f'{{"type": "Feature", "properties": {{"id": "b"}}, '
        f'"geometry": {{"type": "Polygon", "coordinates": [{ring}]}}}},'
        '{"type": "Feature", "properties": {"id": "c"}, "geometry": {"type": "Polygon", '
        f'"coordinates": [[[117.0, 39.0], [-{huge}, 39.0], [117.0, 39.1], [117.0, 39.0]]]}}}}'
        "]}"
    )
    path = tmp_path / "numbers.geojson"
    path.write_text(text)
    out = subprocess.run(
        [sys.executable, "-m", "gridpatrol", "grids", "check", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
    lines = out.stderr.splitlines()
    assert lines[0].endswith("3 problem(s):"), lines
    assert "feature 0 (id 'a'): interval_min must be a number of minutes" in lines[1]
    assert "feature 1 (id 'b'): empty or non-finite coordinates" in lines[2]
    assert "feature 2 (id 'c'): empty or non-finite coordinates" in lines[3]


def _import_refused(tmp_path: Path, capsys, *args: str) -> str:
    """``grids import`` exits 2 with one problem line and creates no store."""
    from gridpatrol.cli import main

    db = tmp_path / "refused.db"
    assert main(["grids", "import", *args, "--db", str(db)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and err[0].endswith("1 problem(s):"), err
    assert not db.exists()  # nothing imported: the store is opened only after the check
    return err[1].strip()


def test_bad_shapefiles_and_systems_one_line_each(tmp_path, capsys):
    from tests.geofence.test_grid_crs import FIELDS, town, write_geojson, write_shapefile

    fields = [f"--{k}-field" if k != "interval_min" else "--interval-field" for k in FIELDS]
    names = [a for pair in zip(fields, FIELDS.values(), strict=True) for a in pair]
    shp = write_shapefile(tmp_path / "no-dbf.shp", town())
    shp.with_suffix(".dbf").unlink()
    assert _import_refused(tmp_path, capsys, str(shp), *names) == (
        "no no-dbf.dbf beside it: the attributes (id, name) are there"
    )
    shp = write_shapefile(tmp_path / "bad-prj.shp", town(), prj="PROJCS[garbled")
    assert _import_refused(tmp_path, capsys, str(shp), *names).startswith(
        "cannot read the .prj ('PROJCS[garbled'): give the system with --crs"
    )
    geojson = write_geojson(tmp_path / "town.geojson", town())
    assert (
        _import_refused(tmp_path, capsys, str(geojson), "--crs", "EPSG:99999")
        == "unknown coordinate system EPSG:99999"
    )
    shp = write_shapefile(tmp_path / "gbk.shp", town())
    assert _import_refused(tmp_path, capsys, str(shp), "--encoding", "utf-8", *names) == (
        "attributes are not UTF-8 (as --encoding says): name the right one with --encoding "
        "(GBK is common)"
    )
    shp = write_shapefile(tmp_path / "cpg.shp", town(), cpg="UTF-8")
    assert "(as the .cpg file says)" in _import_refused(tmp_path, capsys, str(shp), *names)
    shp = write_shapefile(tmp_path / "ours.shp", town())
    assert _import_refused(tmp_path, capsys, str(shp)) == (
        "no field 'id' for the grids' id (fields: 上级网格, 巡查间隔, 网格名称, 网格编码)"
    )


def test_a_zipped_gbk_shapefile_imports(tmp_path, capsys):
    import zipfile

    from gridpatrol.cli import main
    from tests.geofence.test_grid_crs import town, write_shapefile
    from tracks.store import Store

    shp = write_shapefile(tmp_path / "town.shp", town(), epsg=4548, cpg="936")
    archive = tmp_path / "town.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for part in tmp_path.glob("town.*"):
            if part != archive:
                z.write(part, f"网格/{part.name}")
    db = tmp_path / "town.db"
    args = ["--id-field", "网格编码", "--name-field", "网格名称", "--parent-field", "上级网格"]
    assert main(["grids", "import", str(archive), "--db", str(db), *args]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"{archive}: read as EPSG:4548, converted to WGS-84",
        f"imported 80 grids from {archive}",
    ]
    assert shp.exists()
    with Store(db, read_only=True) as store:
        names = [r[0] for r in store.read_rows("SELECT name FROM grids WHERE grid_id = 'G005'")]
    assert names == ["张家窝镇第8网格"]  # 4 areas first, then G001 ...
