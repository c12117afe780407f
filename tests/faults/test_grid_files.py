"""Hostile and huge grid files: a million vertices costs bounded time and memory and is
placed exactly; over the limits, odd ids and broken files, one clear line per problem."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from geofence.assign import assign
from geofence.grids import MAX_VERTICES, GridFileError, load_grids
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
