"""The restore drill: a backup taken while pings flow (on the writer's own store, as serve
takes it), restored into a new file, answers every report of the backed-up window as the
original did; the counters agree with the rows (one snapshot)."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path

import pytest

from conftest import Lake
from patrol.derive import ReportGrids, derive_range
from patrol.reports import run_reports
from tests.patrol.day import TZ
from tests.patrol.test_retention import DAYS, SETTINGS, WINDOW, day_fixes, events, rejected, setup
from tracks.backup import backup_store, restore_store
from tracks.engines import open_store
from tracks.queries import read_stats
from tracks.schema import REJECTED
from tracks.store import Store, StoreError


def fill(store: Store, folder: Path) -> None:
    setup(store, folder)
    for k, day in enumerate(DAYS):
        noon = dt.datetime.combine(day, dt.time(12), TZ)
        store.write_batch(day_fixes(store, day, k), rejected(noon), {"received": 1}, events(noon))
    derive_range(ReportGrids(store), store, SETTINGS, DAYS[0], DAYS[2])


def reports(store: Store) -> dict[str, list[dict[str, object]]]:
    return run_reports("all", ReportGrids(store), store, *WINDOW, SETTINGS)


def flowing(store: Store, stop: threading.Event, written: list[int]) -> None:
    """Pings of the day after the window, one small batch after another, until stopped."""
    day = DAYS[-1] + dt.timedelta(days=20)
    k = 0
    while not stop.is_set():
        fixes = day_fixes(store, day + dt.timedelta(days=k // 50), 0).slice(k % 30, 1)
        written.append(store.write_batch(fixes, REJECTED.empty(), {"received": 1}).stored)
        k += 1


def drill(store: Store, tmp_path: Path) -> None:
    before = reports(store)
    stop, written = threading.Event(), []
    writer = threading.Thread(target=flowing, args=(store, stop, written))
    writer.start()
    try:
        while len(written) < 5:  # pings flow before and during the backup
            threading.Event().wait(0.01)
        first = sum(written)
        counts = backup_store(store, tmp_path / "backup")
        last = sum(written)
        while sum(written) < last + 3:  # and the writer goes on after it
            threading.Event().wait(0.01)
    finally:
        stop.set()
        writer.join()
    base = sum(day_fixes(store, day, k).height for k, day in enumerate(DAYS))
    assert base + first <= counts["pings"] <= base + last
    with Store(tmp_path / "restored.db") as restored:
        loaded = restore_store(restored, tmp_path / "backup")
        assert loaded["pings"] == counts["pings"]
        stats = read_stats(restored)
        assert stats["stored"] == counts["pings"]  # counters and rows of one snapshot
        assert reports(restored) == before
    with Store(tmp_path / "restored.db") as restored, pytest.raises(StoreError, match="new"):
        restore_store(restored, tmp_path / "backup")  # never over a store with pings


def test_restore_drill_on_a_file(tmp_path: Path):
    with Store(tmp_path / "town.db") as store:
        fill(store, tmp_path)
        drill(store, tmp_path)


def test_restore_drill_on_a_lake(lake: Lake, tmp_path: Path):
    store = open_store(lake.db, lake.data_path)
    with store:
        fill(store, tmp_path)
        drill(store, tmp_path)
