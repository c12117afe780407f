"""The read path's error contract: every engine error a one-line StoreError, no password."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from tracks.errors import StoreError, one_line, redact
from tracks.store import Store


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("dbname=town host=h password=s3cret user=u", "s3cret"),
        ("dbname=town password = s3cret user=u", "s3cret"),
        ("dbname=town password='s3 cret' user=u", "s3 cret"),
        ("dbname=town password = 'it\\'s s3cret' user=u", "s3cret"),
        ("PASSWORD=s3cret", "s3cret"),
        ('connect to "dbname=town password=s3cret": refused', "s3cret"),
        ("postgresql://gridpatrol:s3cret@127.0.0.1:5432/town", "s3cret"),
        ("postgres://u:s3cret@db.example/town?sslmode=require", "s3cret"),
        ("ducklake:postgres:postgresql://u:p@ss:s3cret@host/town", "s3cret"),
        ("postgresql://host/town?user=u&password=s3cret", "s3cret"),
        ("PGPASSWORD=s3cret gridpatrol serve", "s3cret"),
    ],
)
def test_redact_hides_every_form_of_password(text: str, secret: str):
    assert secret not in redact(text)
    assert "***" in redact(text)


def test_redact_keeps_the_rest():
    assert (
        redact("dbname=town host=127.0.0.1 password = x port=5432 user=u")
        == "dbname=town host=127.0.0.1 password = *** port=5432 user=u"
    )
    assert redact("postgresql://u:pw@h:5432/db") == "postgresql://u:***@h:5432/db"
    assert redact("postgresql://u@h/db user=u") == "postgresql://u@h/db user=u"


def test_one_line():
    assert one_line(ValueError("IO Error:\n  password=x\n  refused")) == (
        "IO Error: password=*** refused"
    )


def test_a_failed_read_is_one_line_store_error(tmp_path: Path):
    with Store(tmp_path / "t.db") as store:
        with pytest.raises(StoreError) as raised:
            store.read("SELECT * FROM no_such_table")
        assert "\n" not in str(raised.value)
        assert str(raised.value).startswith(f"read of {tmp_path / 't.db'} failed: ")
        with pytest.raises(StoreError):
            store.read_one("SELECT ?::INTEGER", ["not a number"])


def test_frames_are_registered_for_the_query_only(tmp_path: Path):
    frame = pl.DataFrame({"x": [1, 2, 3]})
    with Store(tmp_path / "t.db") as store:
        assert store.read_one("SELECT sum(x) FROM f", frames={"f": frame}) == (6,)
        with pytest.raises(StoreError):  # gone after the read
            store.read_one("SELECT sum(x) FROM f")
        with pytest.raises(StoreError):  # and after a read that failed
            store.read("SELECT nonsense FROM f", frames={"f": frame})
        assert store.read_rows("SELECT x FROM f ORDER BY x", frames={"f": frame[:1]}) == [(1,)]


def test_reads_see_utc_and_one_snapshot(tmp_path: Path):
    with Store(tmp_path / "t.db") as store:
        assert store.read_one("SELECT current_setting('TimeZone')") == ("UTC",)
        with store.snapshot() as reader:
            before = reader.one("SELECT count(*) FROM alerts")
            store.write_published(["a-1"])  # committed meanwhile: not in the snapshot
            assert reader.one("SELECT count(*) FROM alerts_published") == (0,)
        assert before == (0,)
        assert store.read_one("SELECT count(*) FROM alerts_published") == (1,)


def test_a_closed_store_raises_store_error(tmp_path: Path):
    store = Store(tmp_path / "t.db")
    store.close()
    with pytest.raises(StoreError):
        store.probe()
    with pytest.raises(StoreError):
        store.read("SELECT 1")
