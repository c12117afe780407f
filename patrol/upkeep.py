"""Keeping the derived patrol data current while pings arrive, on a thread of its own.

The live updater tells :class:`DerivedUpkeep` the fix times of every committed batch
(:meth:`DerivedUpkeep.touch`); every ``--derive-every-s`` it derives again the days those
touched whose stored facts are no longer current, and today up to the quarter-hour that
pings stopped arriving in (the quarter-hour now running, and the ``segment_max_s`` before
it, keep changing: reports compute that short tail from the pings). A late upload thus
costs one derivation of its day; pings in order cost today's derivation once a quarter of
an hour. At start the days not derived, or derived with other grids or settings, are
derived first (after ``grids import`` or an upgrade).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from base.health import counter, detail
from geofence.config import GeofenceSettings
from geofence.daily import day_bounds
from geofence.grids import GridSet
from patrol.config import LiveSettings
from patrol.derive import ReportGrids, derive_day, derived_through, store_grid_cells, unpurged
from tracks.derived import derived_reader
from tracks.queries import fix_time_range
from tracks.store import QUARTER_US, Store, StoreError

log = logging.getLogger("gridpatrol.derive")


@dataclass
class UpkeepHealth:
    """For /metrics (base/health.py)."""

    days_derived: int = counter(
        "gridpatrol_derived_days", "days (or today's part) derived from the pings"
    )
    seconds: float = counter("gridpatrol_derive_seconds", "time spent deriving them", default=0.0)
    failures: int = counter("gridpatrol_derive_failures", "derivations that failed (retried)")
    last_error: str = detail("the last failure", default="")


class DerivedUpkeep:
    def __init__(
        self,
        grid_set: GridSet,
        settings: GeofenceSettings,
        store: Store,
        *,
        every_s: float | None = None,  # LiveSettings.derive_every_s
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.grids = ReportGrids(store, grid_set)
        self.settings = settings
        self.store = store
        self.clock = clock
        self.tz = settings.tz
        self.every_s = every_s or LiveSettings().derive_every_s
        self.health = UpkeepHealth()
        self._touched: set[dt.date] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def touch(self, ts: np.ndarray) -> None:
        """Fix times (epoch seconds) just committed: their days' facts may have changed, and
        so the day before's for a fix within ``segment_max_s`` after midnight."""
        if len(ts) == 0:
            return
        seconds = np.unique(np.floor(np.r_[ts, ts - self.settings.segment_max_s] / 900) * 900)
        days = {dt.datetime.fromtimestamp(s, self.tz).date() for s in seconds.tolist()}
        with self._lock:
            self._touched |= days

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="derive", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(60)
            self._thread = None

    def _run(self) -> None:
        self._guarded(self.catch_up)
        while not self._stop.wait(self.every_s):
            self._guarded(self.step)

    def _guarded(self, step: Callable[[], object]) -> None:
        try:
            step()
        except StoreError as exc:  # the store is away or full: retried at the next step
            self._failed(exc)
            log.error("derived data not brought up to date, will retry: %s", exc)
        except Exception as exc:  # a bug: counted and shown; reports compute from pings
            self._failed(exc)
            log.exception("deriving failed; reports compute the days from the pings")

    def _failed(self, exc: Exception) -> None:
        self.health.failures += 1
        self.health.last_error = f"{type(exc).__name__}: {exc}"

    def catch_up(self) -> None:
        """Derive every stored day whose facts are missing or not current."""
        span = fix_time_range(self.store)
        if span is None:
            return
        store_grid_cells(self.grids, self.store, self.settings)
        first = dt.datetime.fromtimestamp(span[0], self.tz).date()
        last = dt.datetime.fromtimestamp(min(span[1], self.clock()), self.tz).date()
        days = {first + dt.timedelta(days=k) for k in range((last - first).days + 1)}
        with self._lock:
            self._touched |= days
        self.step()

    def step(self) -> None:
        """Derive the touched days and today wherever their stored facts fall short."""
        now = self.clock()
        # facts through here depend only on quarters no ping arrives in any more
        through = (int(now * 1e6) // QUARTER_US * QUARTER_US) / 1e6 - self.settings.segment_max_s
        with self._lock:
            days, self._touched = (
                self._touched | {dt.datetime.fromtimestamp(now, self.tz).date()},
                set(),
            )
        wanted = {}
        for day in unpurged(self.store, sorted(days), self.tz):  # a purged day is final
            start, end = day_bounds(day, self.tz)
            if min(end, through) > start:
                wanted[day] = min(end, through)
        with derived_reader(self.store) as reader:
            current = derived_through(self.grids, reader, list(wanted), self.settings)
        todo = [day for day, target in wanted.items() if current.get(day) != target]
        for i, day in enumerate(todo):
            if self._stop.is_set():  # stopping: the rest waits for the next start
                return
            try:
                done = derive_day(self.grids, self.store, day, self.settings, wanted[day])
            except Exception:
                with self._lock:  # tried again at the next step
                    self._touched |= set(todo[i:])
                raise
            self.health.days_derived += 1
            self.health.seconds += done.seconds
            log.debug(
                "derived %s through %s: %d fixes, %.2f s",
                day,
                dt.datetime.fromtimestamp(wanted[day], self.tz).time(),
                done.fixes,
                done.seconds,
            )
