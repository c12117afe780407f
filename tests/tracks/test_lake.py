"""What only the lake has: its catalog in a PostgreSQL that can go away and come back."""

from __future__ import annotations

import pytest

from gridpatrol.postgres import PostgresCluster
from tests.tracks.test_reads import pings
from tracks.engines import open_store
from tracks.queries import count_pings
from tracks.schema import REJECTED
from tracks.store import StoreError


def test_writes_fail_while_postgresql_is_down_and_resume_after(tmp_path):
    """A failed write is a StoreError (serve's batcher retries it, acknowledging nothing);
    once PostgreSQL is back, the next write and reads work on the same store."""
    cluster = PostgresCluster().start()  # its own: this test stops it
    try:
        cluster.create_database("town")
        with open_store(cluster.attach("town"), tmp_path / "lake") as store:
            store.write_batch(pings([("a", 1, 117.0, 39.0, 0, None)]), REJECTED.empty(), {})
            cluster.stop()
            with pytest.raises(StoreError, match="DuckLake"):
                store.write_batch(pings([("a", 2, 117.0, 39.0, 0, None)]), REJECTED.empty(), {})
            with pytest.raises(StoreError):
                store.probe()
            cluster.start()
            # the first use after the restart may still find the old connection closed
            for _ in range(3):
                try:
                    store.write_batch(pings([("a", 2, 117.0, 39.0, 0, None)]),
                                      REJECTED.empty(), {})  # fmt: skip
                    break
                except StoreError:
                    continue
            store.probe()
            assert count_pings(store) == 2
    finally:
        cluster.cleanup()


def test_not_null_holds_in_the_lake(lake):
    bad = pings([("a", 1, 117.0, 39.0, 0, None)]).with_columns(received_at=None)
    with open_store(lake.db, lake.data_path) as store:
        with pytest.raises(StoreError, match="NOT NULL"):
            store.write_batch(bad, REJECTED.empty(), {})
        assert count_pings(store) == 0
