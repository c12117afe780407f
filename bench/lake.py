"""The ``lake`` scenario: the DuckLake store beside the DuckDB file, in the same run.

Four figures, each for both engines: ``write_batch`` of 40,000-ping batches (ingest's flush
size: every lake commit writes a Parquet file per table it touches and its catalog rows);
deriving one town day's patrol facts (76 grids, 70 devices, 604,800 pings); and the
compliance report of that day as the CLI and the API compute it, from the derived data and
(``--recompute``) from every ping. The day is copied into each store in 40,000-ping commits
in fix-time order, as ingest would have written it (in the lake about 15 Parquet files, each
with a narrow ts range the read can skip by).
PostgreSQL is a throwaway cluster of this run (:mod:`gridpatrol.postgres`).
"""

from __future__ import annotations

import datetime as dt
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl

from bench.data import TOWN, Town, build_day_db
from geofence.config import GeofenceSettings
from geofence.grids import check_grids
from gridpatrol.postgres import PostgresCluster
from patrol.derive import ReportGrids, derive_range
from patrol.fixes import load_fixes
from patrol.grids import save_grids
from patrol.reports import run_report
from tracks.devices import read_devices
from tracks.engines import open_store
from tracks.schema import PINGS, REJECTED
from tracks.store import Store

#: How the scenario times a call: best_of(fn, repeat) -> seconds (bench.scenarios.best_of).
Timer = Callable[[Callable[[], object], int], float]

BATCH_ROWS = 40_000  # ingest's default --batch-rows
DEVICES = 70


@dataclass(frozen=True)
class Figures:
    engine: str  # "DuckDB file" or "DuckLake"
    batch_rows: int
    batches: int
    write_s: list[float]  # each write_batch
    derive_s: float  # derive the day's facts from its pings and store them
    report_s: float  # best of two: the day's compliance from the derived data
    recompute_s: float  # best of two: read the day's fixes and compute compliance
    load_s: float  # of which reading the fixes
    day_pings: int


def ping_batch(k: int, rows: int, start_us: int) -> pl.DataFrame:
    """Batch ``k`` of fresh pings: DEVICES devices, a fix each per second, after batch k-1."""
    n = np.arange(rows)
    g = k * rows + n  # the ping's index over all batches: (device, second) never repeats
    ts = start_us + g // DEVICES * 1_000_000
    frame = pl.DataFrame(
        {
            "device_id": [f"dev-{d:04d}" for d in g % DEVICES],
            "ts": ts,
            "lat": 39.06 + n * 1e-7,
            "lon": 117.16 + n * 1e-7,
            "acc": np.full(rows, 5.0),
            "flags": np.zeros(rows, dtype=np.uint8),
            "received_at": ts,
        }
    )
    missing = [pl.lit(None, PINGS.schema[c]).alias(c) for c in PINGS.names if c not in frame]
    return frame.with_columns(missing).select(PINGS.names).cast(PINGS.schema)


def copy_day(source: Store, target: Store, grids: Path) -> None:
    """The day's grids, devices and pings into ``target``, pings in BATCH_ROWS commits."""
    save_grids(target, check_grids(grids)[0])
    target.upsert_devices(read_devices(source))
    pings = source.cursor().execute("SELECT * FROM pings ORDER BY ts").pl()
    for lo in range(0, pings.height, BATCH_ROWS):
        target.write_batch(pings.slice(lo, BATCH_ROWS), REJECTED.empty(), {})


@contextmanager
def lake_store(folder: Path) -> Iterator[tuple[str, Path]]:
    """A new lake on a throwaway PostgreSQL: (the --db attach string, the data path)."""
    postgres = PostgresCluster().start()
    try:
        postgres.create_database("bench")
        yield postgres.attach("bench"), folder / "lake"
    finally:
        postgres.cleanup()


def measure(
    store: Store,
    source: Store,
    grids: Path,
    town: Town,
    day: dt.datetime,
    rows: int,
    batches: int,
    best_of: Timer,
) -> tuple[list[float], Reads]:
    """Fresh batches into ``store``; then the day copied in, derived, and its compliance
    report. Returns each write's seconds and the reads'."""
    start_us = int(time.time() * 1e6) - 30 * 86400 * 1_000_000  # clear of the town's day
    write_s = []
    for k in range(batches):
        frame = ping_batch(k, rows, start_us)
        t0 = time.perf_counter()
        result = store.write_batch(frame, REJECTED.empty(), {})
        write_s.append(time.perf_counter() - t0)
        assert result.stored == rows, result
    copy_day(source, store, grids)
    settings = GeofenceSettings()
    report_grids = ReportGrids(store)
    t0 = time.perf_counter()
    derive_range(report_grids, store, settings, day.date(), day.date())
    derive_s = time.perf_counter() - t0
    # the whole local day, as a supervisor asks for it: every piece from the derived data
    start = day.replace(hour=0)
    end = start + dt.timedelta(days=1)

    def report(recompute: bool) -> list[dict[str, object]]:
        return run_report(
            "compliance", report_grids, store, start, end, settings, recompute=recompute
        )

    assert report(False) == report(True), "the derived data and the recompute differ"
    grid_set = report_grids.indexed()
    return write_s, Reads(
        derive_s,
        best_of(lambda: report(False), 2),
        best_of(lambda: report(True), 2),
        best_of(lambda: load_fixes(grid_set, store, start, end), 1),
    )


@dataclass(frozen=True)
class Reads:
    derive_s: float
    report_s: float
    recompute_s: float
    load_s: float


def run_lake(workdir: Path, n: int, smoke: bool, best_of: Timer) -> list[Figures]:
    """The file's figures, then the lake's."""
    day = dt.datetime(2026, 11, 20, 8, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    town = TOWN if not smoke else Town(TOWN.name + "-smoke", TOWN.grids, 5, TOWN.radius_m, 1.0)
    rows = BATCH_ROWS if not smoke else 2_000
    batches = max(2, min(n // rows, 25))
    day_db, grids, day_pings = build_day_db(town, workdir, day.timestamp())
    folder = Path(tempfile.mkdtemp(dir=workdir))
    figures = []
    with lake_store(folder) as (attach, data_path):
        for engine, db, path in (
            ("DuckDB file", str(folder / "writes.db"), None),
            ("DuckLake", attach, data_path),
        ):
            with open_store(day_db, None, read_only=True) as source, open_store(db, path) as store:
                write_s, reads = measure(store, source, grids, town, day, rows, batches, best_of)
            figures.append(
                Figures(
                    engine,
                    rows,
                    batches,
                    write_s,
                    reads.derive_s,
                    reads.report_s,
                    reads.recompute_s,
                    reads.load_s,
                    day_pings,
                )
            )
    return figures
