import polars as pl

from ingest.schema import PING_COLUMNS, PING_DTYPE, PING_SCHEMA
from tracks.store import Store


def test_numpy_polars_and_sql_twins_agree(tmp_path):
    numeric = [c.name for c in PING_COLUMNS if c.numpy != "O"]
    assert list(PING_DTYPE.names) == numeric
    assert list(PING_SCHEMA.names()) == [c.name for c in PING_COLUMNS]
    for c in PING_COLUMNS:
        if c.numpy == "O":
            assert PING_SCHEMA[c.name] == pl.String
        elif c.numpy.startswith("f") and c.polars != pl.Datetime("us", "UTC"):
            # a float buffer (NaN: absent) of a whole number (sat, alarm) is an integer column
            whole = c.sql in ("UTINYINT", "BIGINT")
            assert PING_SCHEMA[c.name].to_python() is (int if whole else float)
    with Store(tmp_path / "gp.db") as store:
        described = store.cursor().execute("DESCRIBE pings").pl()
        empty = store.cursor().execute("SELECT * FROM pings").pl()
    assert described["column_name"].to_list() == [c.name for c in PING_COLUMNS]
    assert empty.schema == PING_SCHEMA
