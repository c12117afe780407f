"""Retention: ``gridpatrol purge --before DAY`` and ``serve --retain-days N``
(docs/storage.md, "Retention").

A purge first derives every day before the limit whose stored facts are missing or not
current (so the figures of those days outlive their fixes), then deletes the raw rows
(:func:`tracks.retention.purge_before`). The limit is a local midnight (in ``--timezone``):
whole days go, and the days before it are final from then on.

In serve, :class:`RetentionKeeper` (role ``all``) purges at start and then at the first
check after each local midnight; the stage of a lake does the same from its maintenance
(:mod:`patrol.lakestage`), which also rewrites the lake's files without the deleted rows.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from zoneinfo import ZoneInfo

from base.errors import ConfigError
from geofence.config import GeofenceSettings
from patrol.config import RetentionSettings
from patrol.derive import ReportGrids, derive_range
from tracks.queries import fix_time_range
from tracks.retention import Purged, purge_before
from tracks.store import Store, StoreError

log = logging.getLogger("gridpatrol.retention")

#: How often serve checks whether the retention limit moved (it moves once a day).
CHECK_EVERY_S = 60.0


def limit_of(day: dt.date, tz: ZoneInfo) -> dt.datetime:
    """The retention limit of ``--before DAY``: that day's local midnight."""
    return dt.datetime.combine(day, dt.time(), tz)


def first_kept_day(retain_days: int, now: float, tz: ZoneInfo) -> dt.date:
    """With ``--retain-days N``: today's date less N (that day and the later ones stay)."""
    return dt.datetime.fromtimestamp(now, tz).date() - dt.timedelta(days=retain_days)


def purge(
    store: Store,
    before: dt.date,
    settings: GeofenceSettings,
    *,
    grids: ReportGrids | None = None,
    now: float | None = None,
) -> Purged:
    """Derive the days before ``before`` that are not current, then delete the raw rows
    older than its local midnight. ``before`` may be today at the latest (today's fixes
    feed the live state). Without grids nothing is derived (no report could be made)."""
    tz = settings.tz
    today = dt.datetime.fromtimestamp(time.time() if now is None else now, tz).date()
    if before > today:
        raise ConfigError(f"--before {before}: later than today ({today}); today's fixes stay")
    grids = grids if grids is not None else ReportGrids(store)
    span = fix_time_range(store)
    if not grids.empty and span is not None:
        first = dt.datetime.fromtimestamp(span[0], tz).date()
        last = before - dt.timedelta(days=1)
        if first <= last:
            derive_range(grids, store, settings, first, last, only_stale=True)
    return purge_before(store, limit_of(before, tz))


class RetentionKeeper:
    """Purges with ``--retain-days`` on a thread of serve (role ``all``): at start, then once
    each time the first kept day moves on. A failure is logged and tried at the next check."""

    def __init__(
        self,
        store: Store,
        retention: RetentionSettings,
        geofence: GeofenceSettings,
        grids: ReportGrids | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if retention.retain_days < 0:
            raise ConfigError("--retain-days is 0 (keep forever) or more")
        self.store = store
        self.retention = retention
        self.geofence = geofence
        self.grids = grids
        self.clock = clock
        self.done: dt.date | None = None  # the first kept day of the last purge
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def due(self) -> dt.date | None:
        """The day to purge before, when it moved since the last purge; else None."""
        if self.retention.retain_days <= 0:
            return None
        day = first_kept_day(self.retention.retain_days, self.clock(), self.geofence.tz)
        return None if day == self.done else day

    def purge_if_due(self) -> Purged | None:
        day = self.due()
        if day is None:
            return None
        done = purge(self.store, day, self.geofence, grids=self.grids, now=self.clock())
        self.done = day
        log.info(
            "retention: deleted %d pings, %d rejected, %d device events, %d device commands "
            "before %s",
            done.pings,
            done.rejected,
            done.device_events,
            done.device_commands,
            done.before.isoformat(),
        )
        return done

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="retention", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(60)
            self._thread = None

    def _run(self) -> None:
        while True:
            try:
                self.purge_if_due()
            except StoreError as exc:  # the store away or busy: the next check tries again
                log.error("retention purge failed, will retry: %s", exc)
            if self._stop.wait(CHECK_EVERY_S):
                return
