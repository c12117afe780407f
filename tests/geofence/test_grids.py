"""Grid files: one clear error per problem, nothing half-imported, --repair fixes."""

from __future__ import annotations

import json

import pytest

from geofence.grids import GridFileError, check_grids, load_grids
from tests.geofence.town import feature, rect


def write(tmp_path, features):
    path = tmp_path / "grids.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


def bowtie():
    a, b, c, d = rect(300, 0, 400, 100)[0][:4]
    return [[a, c, b, d, a]]  # self-intersecting ring


def test_every_problem_is_named(tmp_path):
    path = write(
        tmp_path,
        [
            feature("A", rect(0, 0, 100, 100)),
            feature("A", rect(200, 0, 300, 100)),
            feature("B", rect(400, 0, 500, 100), parent="nope"),
            feature("C", [[[500.0, 100.0], [0, 0], [1, 1], [500.0, 100.0]]]),
            {"type": "Feature", "properties": {}, "geometry": None},
        ],
    )
    with pytest.raises(GridFileError) as err:
        check_grids(path)
    problems = err.value.problems
    assert "feature 1 (id 'A'): duplicate id" in problems
    assert "grid 'B': unknown parent 'nope'" in problems
    assert any("'C'" in p and "coordinates out of range" in p for p in problems)
    assert any(p.startswith("feature 4: property id") for p in problems)


def test_invalid_ring_and_overlap_are_refused_then_repaired(tmp_path):
    path = write(
        tmp_path,
        [
            feature("A", rect(0, 0, 100, 100)),
            feature("B", rect(50, 0, 150, 100)),  # overlaps A by 5000 m²
            feature("C", bowtie()),
        ],
    )
    with pytest.raises(GridFileError) as err:
        check_grids(path)
    assert any("grid 'C': invalid ring: Self-intersection" in p for p in err.value.problems)
    grids, changes = check_grids(path, repair=True)
    assert any(c.startswith("grid 'C': made valid") for c in changes)
    assert any(c.startswith("grid 'B': gave 5000") for c in changes)
    assert len(grids) == 3


@pytest.mark.parametrize(
    "text, message",
    [
        ("{", "not valid JSON"),
        ('{"type": "Feature"}', "not a GeoJSON FeatureCollection"),
        ('{"type": "FeatureCollection", "features": []}', "has no features"),
        ("[" * 100000 + "]" * 100000, "not valid JSON"),
    ],
)
def test_broken_files_get_one_clear_line(tmp_path, text, message):
    path = tmp_path / "bad.geojson"
    path.write_text(text)
    with pytest.raises(GridFileError, match=message):
        load_grids(path)


def test_the_tree_is_built_once_with_the_grid_set(tmp_path):
    """Two levels: R over P (over A, B) and C; Q (over D) stands alone. Written out:
    leaves in file order A B C D at positions 0 1 2 3; under R: A B C; under P: A B."""
    path = write(
        tmp_path,
        [
            feature("R", None),
            feature("P", None, parent="R"),
            feature("A", rect(0, 0, 100, 100), parent="P"),
            feature("B", rect(100, 0, 200, 100), parent="P"),
            feature("C", rect(200, 0, 300, 100), parent="R"),
            feature("Q", None),
            feature("D", rect(300, 0, 400, 100), parent="Q"),
        ],
    )
    tree = load_grids(path).tree
    assert dict(tree.position) == {"A": 0, "B": 1, "C": 2, "D": 3}
    assert tree.parents == ("R", "P", "Q")
    assert tree.children["R"] == ("P", "C")
    assert tree.leaves_under["R"] == ("A", "B", "C")
    assert tree.leaves_under["P"] == ("A", "B")
    assert tree.leaves_under["A"] == ("A",)
    assert tree.positions_under["R"].tolist() == [0, 1, 2]
    assert tree.positions_under["Q"].tolist() == [3]
    assert not tree.positions_under["R"].flags.writeable
    assert tree.subtree(["P", "Q"]) == {"P", "A", "B", "Q", "D"}
    assert tree.subtree(["nope"]) == {"nope"}
