"""What only the lake has: its catalog in a PostgreSQL that can go away and come back."""

from __future__ import annotations

import threading

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


def test_writers_opening_a_new_lake_at_once_all_open_it(postgres: PostgresCluster, tmp_path):
    """Four processes' worth of writers (threads, each its own DuckDB) open one new lake at
    the same moment, as a fleet started together does. Without the opening lock most of
    them failed creating DuckLake's catalog (15 of 20 in 5 rounds of 4)."""
    for k in range(3):
        name = f"opening_{k}"
        postgres.create_database(name)
        errors: list[str] = []

        def open_it(name: str = name, k: int = k, errors: list[str] = errors) -> None:
            try:
                open_store(postgres.attach(name), tmp_path / f"lake{k}").close()
            except StoreError as exc:
                errors.append(str(exc))

        threads = [threading.Thread(target=open_it) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
