"""Derived patrol data: each day's facts (geofence.daily) computed from ``pings`` and
stored, and a window's facts from the stored days and, where a day is not current or not
whole, from the pings (docs/storage.md, "Derived data").

The live updater derives the days its committed batches touch (patrol/updater.py);
``gridpatrol derive`` rebuilds any range from ``pings``. Derived rows are never the only
copy of a fact: every one of them can be rebuilt from ``pings``, and a day whose pings
changed since it was derived is computed from them until it is derived again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl

from geofence.config import GeofenceSettings
from geofence.coverage import GridCells, LeafCells, grid_cells
from geofence.daily import (
    ALL_FACTS,
    CoveredCells,
    FixTime,
    PieceFacts,
    VisitRuns,
    WindowFacts,
    day_bounds,
    empty_part,
    piece_facts,
    pieces,
    window_facts,
)
from geofence.fixes import fixes_from_frame
from geofence.grids import GridCatalog, GridSet, Leaves, build_grid_set, catalog_of
from geofence.shapes import Grid
from patrol.grids import grids_from_rows
from tracks.derived import DerivedReader, derived_reader, quarters
from tracks.grids import grids_digest, read_grid_rows
from tracks.queries import fix_time_range
from tracks.schema import DERIVED_CELLS, DERIVED_TIME, DERIVED_VISITS
from tracks.store import Store

#: Bump when what a day's facts hold changes: every stored day is then derived again.
DERIVE_VERSION = 1


class ReportGrids:
    """The stored grids for reports: their catalog at once, the indexed :class:`GridSet`
    (seconds to build at a district's size) only when some piece is read from pings."""

    def __init__(self, store: Store, grid_set: GridSet | None = None) -> None:
        self.store = store
        self.rows = read_grid_rows(store, geometry=False)
        self.digest = grids_digest(store)
        self._indexed = grid_set
        self.catalog: Leaves = grid_set if grid_set is not None else _catalog(self.rows)
        self._cells: GridCells | None = None

    @property
    def empty(self) -> bool:
        return self.rows.height == 0

    def indexed(self) -> GridSet:
        if self._indexed is None:
            self._indexed = build_grid_set(grids_from_rows(read_grid_rows(self.store)))
        return self._indexed

    def cells(self, settings: GeofenceSettings) -> GridCells:
        if self._cells is None:
            self._cells = grid_cells(self.indexed(), settings.cell_m)
        return self._cells

    def fingerprint(self, settings: GeofenceSettings) -> str:
        """What derived facts depend on: the grids as stored and the rules' constants."""
        rules = [
            DERIVE_VERSION,
            settings.segment_max_s,
            settings.cell_m,
            settings.reach_m,
            settings.timezone,
            self.digest,
        ]
        return hashlib.sha256(json.dumps(rules).encode()).hexdigest()[:32]


def _catalog(rows: pl.DataFrame) -> GridCatalog:
    columns = (
        rows[c].to_list() for c in ("grid_id", "name", "parent", "interval_s", "service_hours")
    )
    return catalog_of(
        [
            Grid(gid, name, parent, interval, hours, None)
            for gid, name, parent, interval, hours in zip(*columns, strict=True)
        ]
    )


def _us(seconds: float) -> int:
    return round(seconds * 1e6)


def _starts(days: list[dt.date], tz: ZoneInfo) -> list[tuple[dt.date, int]]:
    return [(d, _us(day_bounds(d, tz)[0])) for d in days]


def _when(ts: float, tz: ZoneInfo) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, tz)


def _compute(
    grids: ReportGrids,
    reader: DerivedReader,
    settings: GeofenceSettings,
    a: float,
    b: float,
    e: float,
) -> PieceFacts:
    """The facts of [a, b) of a window ending at e, from the pings."""
    tz = settings.tz
    frame = reader.fixes(_when(a, tz), _when(min(b + settings.segment_max_s, e), tz))
    if frame.height == 0:  # no fix: no facts, and no grid index to build for them
        return PieceFacts([], empty_part(), empty_part())
    grid_set = grids.indexed()
    fixes = fixes_from_frame(grid_set, frame)
    return piece_facts(grid_set, grids.cells(settings), fixes, a, b, e, settings)


@dataclass(frozen=True)
class Derived:
    day: dt.date
    fixes: int
    seconds: float


def derive_day(
    grids: ReportGrids,
    store: Store,
    day: dt.date,
    settings: GeofenceSettings,
    through: float | None = None,
) -> Derived:
    """Compute the facts of [the day's start, through) (default: the whole day) from the
    pings and store them, replacing the day's rows."""
    t0 = time.perf_counter()
    tz = settings.tz
    a, b = day_bounds(day, tz)
    b = b if through is None else _us(min(b, through)) / 1e6  # as stored: whole microseconds
    with derived_reader(store) as reader:
        depends = (day, *quarters(_us(a), _us(b + settings.segment_max_s)))
        changes = reader.changes([depends])[day]
        facts = _compute(grids, reader, settings, a, b, np.inf)
    store.replace_derived_day(
        day, _when(b, tz), grids.fingerprint(settings), changes, _frames(day, facts, grids.catalog)
    )
    return Derived(day, len(facts.own.time.us), time.perf_counter() - t0)


def derive_range(
    grids: ReportGrids,
    store: Store,
    settings: GeofenceSettings,
    first: dt.date | None = None,
    last: dt.date | None = None,
    *,
    only_stale: bool = False,
    progress: Callable[[Derived], None] = lambda d: None,
) -> list[Derived]:
    """Derive every day from ``first`` to ``last`` (default: the days of the first and the
    last stored fix), or only those not current; the leaves' cells are stored first. Days
    before the newest purge's limit are left as they are (:func:`unpurged`)."""
    tz = settings.tz
    span = fix_time_range(store)
    if span is None and (first is None or last is None):
        return []
    first = first or dt.datetime.fromtimestamp(span[0], tz).date()  # type: ignore[index]
    last = last or dt.datetime.fromtimestamp(span[1], tz).date()  # type: ignore[index]
    days = unpurged(
        store, [first + dt.timedelta(days=k) for k in range((last - first).days + 1)], tz
    )
    if only_stale:
        days = stale_days(grids, store, days, settings)
    store_grid_cells(grids, store, settings)
    done = []
    for day in days:
        done.append(derive_day(grids, store, day, settings))
        progress(done[-1])
    return done


def unpurged(store: Store, days: list[dt.date], tz: ZoneInfo) -> list[dt.date]:
    """Of ``days``, those not wholly before the newest purge's limit (tracks.retention): a
    purged day's pings are gone, so its stored facts are final and never derived again."""
    with derived_reader(store) as reader:
        limit = reader.purged_us
    if limit is None:
        return days
    return [d for d in days if _us(day_bounds(d, tz)[1]) > limit]


def stale_days(
    grids: ReportGrids, store: Store, days: list[dt.date], settings: GeofenceSettings
) -> list[dt.date]:
    """The days of ``days`` whose stored facts are missing, not current or not of the
    whole day."""
    tz = settings.tz
    with derived_reader(store) as reader:
        current = derived_through(grids, reader, days, settings)
    return [d for d in days if current.get(d) != day_bounds(d, tz)[1]]


def derived_through(
    grids: ReportGrids, reader: DerivedReader, days: list[dt.date], settings: GeofenceSettings
) -> dict[dt.date, float]:
    """Of ``days``, those with current facts: day -> the time they are derived through."""
    tz = settings.tz
    return reader.current_days(
        _starts(days, tz), _us(settings.segment_max_s), grids.fingerprint(settings)
    )


def store_grid_cells(grids: ReportGrids, store: Store, settings: GeofenceSettings) -> None:
    """Each leaf's coverage cells, for reports that build no grid index."""
    cells = grids.cells(settings)
    leaf = np.repeat(np.arange(len(cells.off) - 1), np.diff(cells.off))
    store.replace_grid_cells(
        pl.DataFrame(
            {
                "fingerprint": grids.fingerprint(settings),
                "grid_id": np.asarray(grids.catalog.ids, dtype=object)[leaf],
                "cell": cells.cells,
            }
        )
    )


def _frames(day: dt.date, facts: PieceFacts, catalog: Leaves) -> dict[str, pl.DataFrame]:
    """A day's facts as rows of the derived tables."""
    devices = np.asarray(facts.devices, dtype=object)
    leaf_ids = np.asarray([*catalog.ids, None], dtype=object)  # -1 -> None
    out: dict[str, list[pl.DataFrame]] = {
        t.name: [] for t in (DERIVED_VISITS, DERIVED_TIME, DERIVED_CELLS)
    }
    for across, part in ((False, facts.own), (True, facts.across)):
        v = part.visits
        n = len(v.grid)
        out[DERIVED_VISITS.name].append(
            pl.DataFrame(
                {
                    "day": [day] * n,
                    "grid_id": leaf_ids[v.grid].tolist(),
                    "first_ts": v.first,
                    "last_ts": v.last,
                    "visits": v.visits,
                    "max_inner_s": v.inner,
                    "across": [across] * n,
                },
                schema=DERIVED_VISITS.schema,
                strict=False,
            )
        )
        time_rows = (
            pl.DataFrame(
                {"device": part.time.device, "leaf": part.time.leaf, "fix_us": part.time.us},
                schema={"device": pl.Int64, "leaf": pl.Int32, "fix_us": pl.Int64},
            )
            .group_by("device", "leaf")
            .agg(pl.col("fix_us").sum())
            .sort("device", "leaf")
        )
        n = time_rows.height
        out[DERIVED_TIME.name].append(
            pl.DataFrame(
                {
                    "day": [day] * n,
                    "device_id": devices[time_rows["device"].to_numpy()].tolist(),
                    "grid_id": leaf_ids[time_rows["leaf"].to_numpy()].tolist(),
                    "fix_us": time_rows["fix_us"],
                    "across": [across] * n,
                },
                schema=DERIVED_TIME.schema,
                strict=False,
            )
        )
        c = part.cells
        n = len(c.cell)
        out[DERIVED_CELLS.name].append(
            pl.DataFrame(
                {
                    "day": [day] * n,
                    "device_id": devices[c.device].tolist(),
                    "cell": c.cell,
                    "across": [across] * n,
                },
                schema=DERIVED_CELLS.schema,
                strict=False,
            )
        )
    return {name: pl.concat(frames) for name, frames in out.items()}


def _codes(column: pl.Series, names: list[str]) -> np.ndarray:
    """Each value's index in ``names`` (int64), -1 for null."""
    return column.cast(pl.Enum(names)).to_physical().cast(pl.Int64).fill_null(-1).to_numpy()


def _devices(facts: WindowFacts, column: pl.Series) -> np.ndarray:
    """Each device id's index in the window's facts."""
    names = column.unique().sort().to_list()
    return facts.index(names)[_codes(column, names)]


def _take(
    facts: WindowFacts, reader: DerivedReader, parts: list[tuple[dt.date, bool]], catalog: Leaves
) -> None:
    """Add the stored parts (day, across) to ``facts``: of each table only what the facts
    need, summed or made distinct in the database, never a day's rows in memory."""
    leaves = list(catalog.ids)
    if "visits" in facts.needs:
        v = reader.visits(parts)
        facts.add_runs(
            VisitRuns(
                _codes(v["grid_id"], leaves).astype(np.int32),
                v["first_ts"].to_numpy(),
                v["last_ts"].to_numpy(),
                v["visits"].to_numpy().astype(np.int64),
                v["max_inner_s"].to_numpy(),
            )
        )
    if "time" in facts.needs:
        t = reader.time(parts)
        facts.add_time(
            FixTime(
                _devices(facts, t["device_id"]),
                _codes(t["grid_id"], leaves).astype(np.int32),
                t["fix_us"].to_numpy(),
            )
        )
    if "device_cells" in facts.needs:
        c = reader.device_cells(parts)
        facts.add_cells(
            CoveredCells(_devices(facts, c["device_id"]), c["cell"].to_numpy().astype(np.int64))
        )
    elif "cells" in facts.needs:
        cells = reader.cells(parts)["cell"].to_numpy().astype(np.int64)
        facts.add_cells(CoveredCells(np.zeros(len(cells), dtype=np.int64), cells))


def _leaf_cells(
    grids: ReportGrids, reader: DerivedReader, settings: GeofenceSettings, fp: str
) -> LeafCells:
    """Each leaf's cells as stored with the derived data, else from the grids' geometry."""
    rows = reader.grid_cells(fp)
    if rows.height == 0:
        return grids.cells(settings).leaf_cells
    leaf = rows["grid_id"].cast(pl.Enum(grids.catalog.ids)).to_physical().to_numpy()
    order = np.argsort(leaf, kind="stable")
    counts = np.bincount(leaf, minlength=len(grids.catalog.ids))
    off = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    cells = rows["cell"].to_numpy().astype(np.int64)[order]
    return LeafCells(off, cells, int(cells.max()) + 1 if len(cells) else 0)


def read_window(
    grids: ReportGrids,
    store: Store,
    start: dt.datetime,
    end: dt.datetime,
    settings: GeofenceSettings,
    needs: frozenset[str] = ALL_FACTS,
) -> WindowFacts:
    """The facts of [start, end) that ``needs`` names (geofence.daily.NEEDS): current
    whole days from the derived data, the rest (the window's edges, days not derived or
    changed since) from the pings, on one snapshot."""
    tz = settings.tz
    t0, t1 = start.timestamp(), end.timestamp()
    starting = [day for day, a, _ in pieces(t0, t1, tz) if a == day_bounds(day, tz)[0]]
    fp = grids.fingerprint(settings)
    with derived_reader(store) as reader:
        current = derived_through(grids, reader, starting, settings)
        cells = (
            _leaf_cells(grids, reader, settings, fp)
            if needs & {"cells", "device_cells"}
            else LeafCells(np.zeros(len(grids.catalog.ids) + 1, dtype=np.int64), _NONE, 0)
        )
        facts = WindowFacts(grids.catalog, cells, t0, t1, tz, needs)
        parts = window_facts(
            facts, settings, current, lambda a, b, e: _compute(grids, reader, settings, a, b, e)
        )
        if parts:
            _take(facts, reader, parts, grids.catalog)
        return facts


_NONE = np.empty(0, dtype=np.int64)
