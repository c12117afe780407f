"""Every table's one declaration: the DDL the store creates and the polars schema agree."""

from __future__ import annotations

import pytest

from tracks.schema import ALL_TABLES, TABLES, Table
from tracks.store import Store

#: How DESCRIBE names the declared types that are aliases.
DESCRIBED = {"TIMESTAMPTZ": "TIMESTAMP WITH TIME ZONE", "REAL": "FLOAT"}


@pytest.mark.parametrize("table", ALL_TABLES, ids=lambda t: t.name)
def test_ddl_and_polars_schema_agree(table: Table, tmp_path):
    with Store(tmp_path / "gp.db") as store:
        described = store.cursor().execute(f"DESCRIBE {table.name}").pl()
        empty = store.cursor().execute(f"SELECT * FROM {table.name}").pl()
    assert described["column_name"].to_list() == table.names
    assert described["column_type"].to_list() == [
        DESCRIBED.get(c.sql, c.sql) for c in table.columns
    ]
    assert described["null"].to_list() == ["YES" if c.nullable else "NO" for c in table.columns]
    assert empty.schema == table.schema


def test_every_table_of_the_database_is_declared(tmp_path):
    with Store(tmp_path / "gp.db") as store:
        names = store.cursor().execute("SELECT table_name FROM duckdb_tables()").pl()
    assert sorted(names["table_name"].to_list()) == sorted(t.name for t in ALL_TABLES)
    assert TABLES.count("CREATE TABLE") == len(ALL_TABLES)


def test_a_frame_of_the_declared_schema_round_trips(tmp_path):
    """What a write takes is what a read gives back: the declared schema, both ways."""
    from tracks.schema import GRIDS

    with Store(tmp_path / "gp.db") as store:
        store.replace_grids(GRIDS.empty())
        back = store.cursor().execute("SELECT * FROM grids").pl()
    assert back.schema == GRIDS.schema
