"""What only the lake has: extensions from wheels, loaded with no network; its catalog in a
PostgreSQL that can go away and come back."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading

import duckdb
import pytest

from gridpatrol.postgres import PostgresCluster
from tests.tracks.test_reads import pings
from tracks.engines import open_store
from tracks.lake import extension_file
from tracks.queries import count_pings
from tracks.schema import REJECTED
from tracks.store import StoreError

#: Run in a network namespace of its own (no interface but a downed loopback), with a home of
#: its own (no ~/.duckdb cache): loads the extensions, attaches a lake, writes and reads it.
OFFLINE = """
import json, sys
from tracks.lake import connect_engine
con = connect_engine()
home = sys.argv[1]  # tmp_path: no quote in it
con.execute(f"ATTACH 'ducklake:{home}/c.ducklake' AS l (DATA_PATH '{home}/d')")
con.execute("CREATE TABLE l.t AS SELECT 42 AS x")
print(json.dumps({"x": con.execute("SELECT x FROM l.t").fetchone()[0], "loaded": [r[0] for r in
    con.execute("SELECT extension_name FROM duckdb_extensions() WHERE loaded").fetchall()]}))
"""


def test_extensions_load_from_the_wheels_with_no_network(tmp_path):
    unshare = shutil.which("unshare")
    # a network namespace of its own: --map-root-user lets any user make one (user
    # namespaces), root included
    cut = [unshare, "--map-root-user", "--net"] if unshare else []
    if not cut or subprocess.run([*cut, "true"]).returncode:
        pytest.fail("this test needs unshare (util-linux) and user namespaces to cut the network")
    env = dict(os.environ, HOME=str(tmp_path), XDG_CACHE_HOME=str(tmp_path))
    done = subprocess.run(
        [*cut, sys.executable, "-c", OFFLINE, str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["x"] == 42 and {"ducklake", "postgres_scanner"} <= set(out["loaded"])
    assert not (tmp_path / ".duckdb").exists()  # nothing installed into the default folder


def test_an_extension_loads_only_into_its_duckdb_release(monkeypatch):
    """Each wheel holds the build for one DuckDB release; another release finds none."""
    assert f"/v{duckdb.__version__}/ducklake.duckdb_extension" in str(extension_file("ducklake"))
    monkeypatch.setattr(duckdb, "__version__", "1.4.4")
    with pytest.raises(StoreError, match=r"holds no ducklake extension for DuckDB 1\.4\.4"):
        extension_file("ducklake")


def test_writes_fail_while_postgresql_is_down_and_resume_after(
    own_postgres: PostgresCluster, tmp_path
):
    """A failed write is a StoreError (serve's batcher retries it, acknowledging nothing);
    once PostgreSQL is back, the next write and reads work on the same store."""
    cluster = own_postgres  # this test stops it
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
                store.write_batch(pings([("a", 2, 117.0, 39.0, 0, None)]), REJECTED.empty(), {})
                break
            except StoreError:
                continue
        store.probe()
        assert count_pings(store) == 2


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
