"""The grids as stored: grids saved to the database come back as the same GridSet and the
same GeoJSON geometries."""

from __future__ import annotations

import json

from geofence.grids import check_grids
from patrol.grids import read_geometries, read_grids, save_grids
from tests.geofence.town import three_in_a_row
from tracks.grids import read_grid_rows
from tracks.store import Store


def test_saved_grids_read_back_in_file_order(tmp_path):
    path = three_in_a_row(tmp_path / "g.geojson", interval_min=20, service_hours="08:00-20:00")
    grids, _ = check_grids(path)
    with Store(tmp_path / "gp.db") as store:
        assert read_grids(store) is None
        save_grids(store, grids)
        grid_set = read_grids(store)
        rows = read_grid_rows(store)
        geometries = read_geometries(store)
    assert grid_set is not None
    assert [g.id for g in grid_set.grids] == ["P", "A", "B", "C"]
    assert grid_set.ids == ["A", "B", "C"]
    assert grid_set.tree.leaves_under["P"] == ("A", "B", "C")
    assert rows.select(
        "grid_id", "position", "parent", "is_leaf", "interval_s", "service_hours"
    ).rows() == [
        ("P", 0, None, False, 1800, None),  # the parent keeps the defaults
        ("A", 1, "P", True, 1200, "08:00-20:00"),
        ("B", 2, "P", True, 1200, "08:00-20:00"),
        ("C", 3, "P", True, 1200, "08:00-20:00"),
    ]
    features = json.loads(path.read_text())["features"]
    assert geometries == {f["properties"]["id"]: f["geometry"] for f in features}


def test_an_import_replaces_the_grids_whole(tmp_path):
    path = three_in_a_row(tmp_path / "g.geojson")
    grids, _ = check_grids(path)
    with Store(tmp_path / "gp.db") as store:
        save_grids(store, grids)
        save_grids(store, [g for g in grids if g.id in ("P", "A")])
        grid_set = read_grids(store)
    assert grid_set is not None and grid_set.ids == ["A"]
