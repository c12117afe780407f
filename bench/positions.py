"""``-t devices-api``: GET /devices at 2,000 devices with N, 10 N and 100 N pings stored.

In-process (FastAPI's test client, no socket) on the generated city (1,652 leaves), the
devices spread over it, a fix every 30 s each. Three answers from live state (a new snapshot
each time: built and serialised; the same snapshot: the cached bytes; ``If-None-Match``: a
304), each beside the scan of ``pings`` that GET /devices ran before live state served it
(what it still runs where no live state exists).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl

from bench.data import CITY, town_grid_file
from bench.result import Result
from geofence.assign import assign_ids
from geofence.config import GeofenceSettings
from geofence.grids import check_grids
from patrol.grids import read_grids, save_grids
from tracks.store import Store

DEVICES = 2000
PERIOD_S = 30.0
START = 1_790_000_000.0  # 2026-09-22


#: Distinct positions the pings are drawn from (each assigned its grid once, in Python).
SPOTS = 1 << 20
#: Pings per INSERT ... SELECT: one statement's working set stays small at 100 M.
INSERT_ROWS = 10_000_000
#: Bump when the stored pings change: cached files are keyed by it.
POSITIONS_MODEL = 2


def build_positions_db(folder: Path, pings: int) -> Path:
    """A DuckDB file: the city's grids, 2,000 registered devices, ``pings`` pings; reused.

    Ping i is device i mod 2,000 at START + (i div 2,000) x 30 s, at one of SPOTS seeded
    positions over the city (picked by hash(i)), with that position's grid: the rows are
    written by DuckDB (``INSERT ... SELECT`` from ``range()``), not built in Python."""
    name = f"positions-m{POSITIONS_MODEL}-{DEVICES}d-{pings}"
    db, marker = folder / f"{name}.db", folder / f"{name}.done"
    if db.exists() and marker.exists():
        return db
    db.unlink(missing_ok=True)
    grids = check_grids(town_grid_file(CITY, folder))[0]
    rng = np.random.default_rng(5)
    t0 = time.perf_counter()
    with Store(db) as store:
        save_grids(store, grids)
        grid_set = read_grids(store)
        assert grid_set is not None
        box = grid_set.bbox
        lon = rng.uniform(box[:, 0].min(), box[:, 2].max(), SPOTS)
        lat = rng.uniform(box[:, 1].min(), box[:, 3].max(), SPOTS)
        spots = pl.DataFrame(
            {
                "k": np.arange(SPOTS),
                "lat": lat,
                "lon": lon,
                "grid_id": assign_ids(grid_set, lon, lat),
            }
        )
        ids = [f"dev-{d:04d}" for d in range(DEVICES)]
        devices = pl.DataFrame(
            {
                "device_id": ids,
                "kind": ["tracker"] * DEVICES,
                "worker": [f"Worker {d}" for d in range(DEVICES)],
                "grid_id": [grid_set.ids[d % len(grid_set.ids)] for d in range(DEVICES)],
            }
        )
        with store.transaction() as con:
            con.register("spots_frame", spots)
            con.execute("CREATE TEMP TABLE spots AS SELECT * FROM spots_frame")
            con.unregister("spots_frame")
        for lo in range(0, pings, INSERT_ROWS):
            with store.transaction() as con:
                con.execute(
                    f"""
                    INSERT INTO pings (device_id, ts, lat, lon, flags, grid_id, received_at)
                    SELECT 'dev-' || lpad(CAST(i % {DEVICES} AS VARCHAR), 4, '0'), t, s.lat,
                           s.lon, 0, s.grid_id, t
                    FROM (
                        SELECT i, to_timestamp({START} + (i // {DEVICES}) * {PERIOD_S}) AS t,
                               hash(i) % {SPOTS} AS k
                        FROM range({lo}, {min(pings, lo + INSERT_ROWS)}) r(i)
                    ) p JOIN spots s USING (k)
                    """
                )
        with store.transaction() as con:
            con.register("devs", devices)
            con.execute("INSERT INTO devices SELECT * FROM devs")
            con.unregister("devs")
    build_s = time.perf_counter() - t0
    marker.write_text(f"{pings} pings built in {build_s:.1f} s\n")
    return db


def _best_ms(fn: Callable[[], object], before: Callable[[], object] | None, repeat: int) -> float:
    """Best of ``repeat`` (after a warm-up), ``before`` run untimed ahead of each."""
    times = []
    for i in range(repeat + 1):
        if before is not None:
            before()
        t0 = time.perf_counter()
        fn()
        if i:
            times.append(time.perf_counter() - t0)
    return min(times) * 1e3


def scenario(workdir: Path, n: int, smoke: bool) -> list[Result]:
    results = []
    for pings in (n, 10 * n, 100 * n):
        results += _case(build_positions_db(workdir, pings), pings, smoke)
    return results


def _case(db: Path, pings: int, smoke: bool) -> list[Result]:
    from api.app import create_app
    from api.config import ApiSettings
    from api.context import ApiContext
    from patrol.updater import LiveUpdater

    # 2026-12: starlette 1.x warns that its test client prefers httpx2 (not in the lock)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
        from fastapi.testclient import TestClient

    with Store(db) as store:
        grid_set = read_grids(store)
        assert grid_set is not None
        t0 = time.perf_counter()
        live = LiveUpdater(grid_set, GeofenceSettings(), store)  # loads the last fixes
        load_s = time.perf_counter() - t0

        def client(with_live: bool) -> TestClient:
            context = ApiContext(
                store=store,
                grid_set=grid_set,
                live=live if with_live else None,
                geofence=GeofenceSettings(),
                settings=ApiSettings(),
                tokens=None,
            )
            return TestClient(create_app(context), base_url="http://127.0.0.1")

        scan, fresh = client(False), client(True)

        def get(c: TestClient, etag: str | None = None) -> str:
            headers = {"If-None-Match": etag} if etag else {}
            r = c.get("/api/v1/devices", headers=headers)
            assert r.status_code == (304 if etag else 200), r.status_code
            assert etag or len(r.json()) == DEVICES
            return r.headers["etag"]

        step = [0]
        b = grid_set.bbox[0]

        def new_fix() -> None:  # a committed fix: a new snapshot to serialise
            step[0] += 1
            live.state.apply_fixes(
                ["dev-0000"],
                np.array([START + 1e7 + step[0]]),
                np.array([(b[0] + b[2]) / 2]),
                np.array([(b[1] + b[3]) / 2]),
                np.array([0], dtype=np.int32),
            )

        repeat = 3 if smoke else 10
        ref = _best_ms(lambda: get(scan), None, 3)
        built = _best_ms(lambda: get(fresh), new_fix, repeat)
        cached = _best_ms(lambda: get(fresh), None, repeat)
        etag = get(fresh)
        not_modified = _best_ms(lambda: get(fresh, etag), None, repeat)
        scan.close()
        fresh.close()
    where = f"{DEVICES:,} devices, {pings:,} pings"
    ref_name = "scan of pings (before; without live state) ms"
    note = f"goal < 20 ms, flat; live state loaded at start in {load_s * 1e3:.0f} ms"
    return [
        Result(
            "devices-api", f"GET /devices, new snapshot, {where}", built, "ms", ref_name, ref, note
        ),
        Result("devices-api", f"GET /devices, cached bytes, {where}", cached, "ms", ref_name, ref),
        Result("devices-api", f"GET /devices, 304, {where}", not_modified, "ms", ref_name, ref),
    ]
