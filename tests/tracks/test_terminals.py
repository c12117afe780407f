"""The JT/T 808 terminal registry's writes and reads (tracks/terminals.py), on a real file."""

from __future__ import annotations

from pathlib import Path

import pytest

from base.errors import ConfigError
from tracks.engines import open_store
from tracks.store import Store
from tracks.terminals import (
    import_terminals,
    issue_code,
    parse_terminals,
    read_terminal_events,
    read_terminals,
    reset_terminal,
)

HEADER = "phone,terminal_id,plate,device_id\n"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "terminals.csv"
    path.write_text(text)
    return path


def test_phones_lose_their_leading_zeros_and_an_empty_device_is_the_phone(tmp_path):
    frame = parse_terminals(
        write(tmp_path, HEADER + "013912345678,SIM01 ,,\n00000000013912345679,,津A1,bike-9\n")
    )
    assert frame.rows() == [
        ("13912345678", "SIM01", "", "13912345678"),
        ("13912345679", "", "津A1", "bike-9"),
    ]


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("phone,terminal_id\n1,2\n", "header must be phone,terminal_id,plate,device_id"),
        (HEADER + "1390000000x,,,\n", "line 2: phone must be 1 to 20 digits"),
        (HEADER + "1,,,\n" + "1" * 21 + ",,,\n", "line 3: phone must be 1 to 20 digits"),
        (HEADER + "1,,,a b\n", "line 2: device_id 'a b' is not a device id"),
        (HEADER + "01,,,\n1,,,\n", "phone '1' is on more than one row"),
        (HEADER + "1,,,d\n2,,,d\n", "device_id 'd' is on more than one row"),
    ],
)
def test_bad_rows_are_refused_with_their_line(tmp_path, text, error):
    with pytest.raises(ConfigError, match=error):
        parse_terminals(write(tmp_path, text))


@pytest.mark.parametrize("engine", ["file", "lake"])
def test_a_code_is_issued_once_kept_across_imports_and_freed_by_a_reset(request, tmp_path, engine):
    csv = write(tmp_path, HEADER + "013900000001,SIM01,,\n")
    if engine == "file":
        store = Store(tmp_path / "jt808.db")
    else:  # several processes write a lake: the conditional update must hold there too
        lake = request.getfixturevalue("lake")
        store = open_store(lake.db, lake.data_path)
    with store:
        assert import_terminals(store, csv) == 1
        assert issue_code(store, "13900000001", "c1")
        assert not issue_code(store, "13900000001", "c2")  # the first registration wins
        assert not issue_code(store, "13800000001", "c3")  # not in the registry
        write(tmp_path, HEADER + "013900000001,SIM02,,bike-1\n")
        import_terminals(store, csv)
        row = read_terminals(store).row(0, named=True)
        assert (row["terminal_id"], row["device_id"], row["auth_code"]) == ("SIM02", "bike-1", "c1")
        assert reset_terminal(store, "013900000001", "by op: lost its code")
        assert not reset_terminal(store, "013800000001")
        assert read_terminals(store)["auth_code"].to_list() == [None]
        assert issue_code(store, "13900000001", "c4")
        events = read_terminal_events(store, "013900000001")
    assert events["event"].to_list() == [
        "imported",
        "registered",
        "imported",
        "reset",
        "registered",
    ]
    assert events["detail"][3] == "by op: lost its code"
