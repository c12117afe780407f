"""The stage role: one active stage over a lake that ingest workers append to.

Leadership is a PostgreSQL advisory lock (:mod:`tracks.leader`); the others stand by and try
again every ``standby_try_s``. The leader, in a loop:

1. reads the lake's newest snapshot; the pings and device events appended since the last
   range it completed (:func:`tracks.changefeed.complete_range`) lose their repeated keys
   (two workers that stored the same ping) and the range's end is recorded, in one
   transaction;
2. hands the rows kept to the :class:`patrol.updater.LiveUpdater` as a
   :class:`patrol.updater.CommittedBatch` (grids assigned here), so live state, alerts and
   their publication work as in the single process;
3. every ``maintenance_every_s``: with ``--retain-days``, purges the raw rows past the limit
   (:mod:`patrol.retention`) and writes the files holding deleted rows again without them;
   merges small files, expires snapshots older than ``keep_snapshots_s`` (never one the feed
   still needs) and deletes the files they freed. After a rewrite the next range is recorded
   whatever it holds, so the snapshots that still read the old files can be expired.

Taking over (at start, or after the leader died): first the ranges since the last recorded
one are completed (duplicates dropped), then the live state is rebuilt from storage, as a
restarted single ``serve`` does. Storage holds every fact the state is made of, and the
alerts already stored are open conditions the state knows, so nothing is raised twice (an
alert id is kind:subject:time, stored once) and nothing due is lost: it is raised at the
first tick once the stage has caught up. Before that tick the new live updater publishes the
stored alerts the last leader had not recorded as published (:mod:`patrol.outbox`).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from base.health import counter, detail, gauge
from geofence.assign import assign
from geofence.config import GeofenceSettings
from geofence.flags import FixFlagger
from geofence.grids import GridSet
from patrol.config import LiveSettings, RetentionSettings, StageSettings
from patrol.live import Clock
from patrol.outbox import Publish
from patrol.retention import RetentionKeeper
from patrol.updater import CommittedBatch, LiveUpdater
from tracks.changefeed import (
    START,
    Range,
    cleanup_files,
    complete_range,
    current_snapshot,
    expire_snapshots,
    merge_files,
    prepare_stage,
    read_progress,
    snapshot_time,
)
from tracks.lake import LakeStore
from tracks.leader import Leadership
from tracks.reflag import NewestFixes
from tracks.retention import rewrite_deleted_files
from tracks.store import StoreError

log = logging.getLogger("gridpatrol.updater")

#: A range with nothing in it is recorded anyway once the recorded progress is this many
#: snapshots behind (so snapshots can be expired up to it, and a takeover starts near).
RECORD_EVERY_SNAPSHOTS = 100

#: While the oldest snapshot not yet handled is older than this, the stage is catching up:
#: like ingest draining a backlog, no new live condition is raised meanwhile.
CATCHING_UP_AFTER_S = 5.0


@dataclass
class RoleHealth:
    """For /health and /metrics of a stage process (base/health.py)."""

    leading: bool = gauge(
        "gridpatrol_stage_leading", "1 while this stage leads", default=False, key="stage.leading"
    )
    leader_since: float | None = detail("epoch seconds since this stage leads")
    takeovers: int = counter("gridpatrol_stage_takeovers", "times this process took the lead")
    position: int | None = detail("the last snapshot handled (in memory)", key="stage.position")
    lake_snapshot: int = detail("the newest snapshot seen", default=0, key="stage.lake_snapshot")
    lag_snapshots: int = gauge(
        "gridpatrol_stage_lag_snapshots",
        "lake snapshots not handled yet",
        key="stage.lag_snapshots",
    )
    lag_s: float = gauge(
        "gridpatrol_stage_lag_seconds",
        "age of the oldest lake snapshot not handled yet",
        default=0.0,
        key="stage.lag_s",
        digits=3,
    )
    ranges: int = detail("ranges of snapshots handled", default=0)
    pings: int = detail("rows handed to the live updater", default=0)
    duplicates_dropped: int = counter(
        "gridpatrol_stage_duplicates_dropped", "repeated pings the stage deleted"
    )
    flags_changed: int = counter(
        "gridpatrol_stage_flags_changed",
        "pings whose speed flag the stage set otherwise than their worker",
    )  # or changed after a late row
    files_merged: int = counter("gridpatrol_stage_files_merged", "data files merged away")
    snapshots_expired: int = counter("gridpatrol_stage_snapshots_expired", "lake snapshots expired")
    files_deleted: int = detail("files freed and deleted", default=0)
    files_rewritten: int = detail("data files written again without deleted rows", default=0)
    failures: int = counter("gridpatrol_stage_failures", "stage steps that failed (retried)")
    last_error: str = detail("the last failure", default="", key="stage.last_error")

    def problems(self) -> list[str]:
        return [] if self.leading else ["standby: another stage process leads"]


class LakeStage:
    """``run()`` blocks until ``stop()``; ``on_live`` is told each new live updater (or None)."""

    def __init__(
        self,
        store: LakeStore,
        grid_set: GridSet | None,
        geofence: GeofenceSettings,
        settings: StageSettings,
        live: LiveSettings | None = None,
        *,
        flag_limits: tuple[float, float],
        publish: Publish | None = None,
        on_live: Callable[[LiveUpdater | None], None] = lambda live: None,
        clock: Clock = time.time,
        retention: RetentionSettings | None = None,
    ) -> None:
        # flag_limits: ingest's (max_acc_m, max_speed_mps): the stage flags again, in fix-time
        # order per device, what workers flagged from the fixes each of them saw
        self.store = store
        self.grid_set = grid_set
        self.geofence = geofence
        self.settings = settings
        self.live_settings = live
        self.publish = publish
        self.on_live = on_live
        self.clock = clock
        self.flag_limits = flag_limits
        self.flagger = self._new_flagger()
        self.leadership = Leadership(store.catalog)
        self.health = RoleHealth()
        self.live: LiveUpdater | None = None
        self._stopping = threading.Event()
        self._next_maintenance = 0.0
        self._position = START  # where the stage is (tracks.changefeed.Position)
        self._recorded = 0  # the snapshot of the last position recorded in the lake
        self._record_next = False  # record the next range whatever it holds (after a rewrite)
        # the grids read again at each purge (once a day): a grids import may come between
        self.retention = RetentionKeeper(
            store, retention or RetentionSettings(), geofence, clock=clock
        )

    def stop(self) -> None:
        self._stopping.set()

    def _new_flagger(self) -> FixFlagger:
        """A flagger (and memory of the newest handled fixes) knowing nothing yet: what
        the stage handled is in storage (the walk reads it in the range's transaction)."""
        self.newest = NewestFixes()
        return FixFlagger(*self.flag_limits)

    def catching_up(self) -> bool:
        return self.health.lag_s > CATCHING_UP_AFTER_S

    def run(self) -> None:
        try:
            while not self._stopping.is_set():
                if not self.leadership.try_lead():
                    self._stopping.wait(self.settings.standby_try_s)
                    continue
                self._lead()
        finally:
            self._step_down()

    def _lead(self) -> None:
        log.info("leading the stage")
        try:
            self._take_over()
        except StoreError as exc:
            self._failed(exc)
            self._step_down()
            self._stopping.wait(self.settings.standby_try_s)
            return
        while not self._stopping.is_set():
            if not self.leadership.leads():
                log.error("stage lock lost: standing by")
                break
            try:
                self._catch_up(feed=True)
                self._maintain_if_due()
            except StoreError as exc:
                self._failed(exc)
                # the failed range may have taught the flagger fixes it will see again
                self.flagger = self._new_flagger()
            self._stopping.wait(self.settings.feed_poll_s)
        self._step_down()

    def _take_over(self) -> None:
        prepare_stage(self.store)
        self.flagger = self._new_flagger()  # what the previous leader knew is in storage
        self._position = read_progress(self.store) or START
        self._recorded = self.health.position = self._position.snapshot
        self._catch_up(feed=False)  # duplicates dropped before the state reads storage
        if self.grid_set is not None:
            live = LiveUpdater(
                self.grid_set,
                self.geofence,
                self.store,
                self.live_settings,
                publish=self.publish,
                draining=self.catching_up,
                clock=self.clock,
            )
            live.warm_up()
            live.start()
            self.live = live
            self.on_live(live)
        self.health.leading = True
        self.health.leader_since = time.time()
        self.health.takeovers += 1
        self._next_maintenance = time.monotonic() + self.settings.maintenance_every_s

    def _step_down(self) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None
            self.on_live(None)
        self.leadership.release()
        self.health.leading = False
        self.health.leader_since = None

    def _failed(self, exc: Exception) -> None:
        self.health.failures += 1
        self.health.last_error = str(exc)
        log.error("stage step failed, will retry: %s", exc)

    def _catch_up(self, *, feed: bool) -> None:
        """Complete the ranges up to the lake's newest snapshot (now)."""
        newest = current_snapshot(self.store)
        self.health.lake_snapshot = newest.id
        while self._position.snapshot < newest.id and not self._stopping.is_set():
            self._measure_lag(newest.id)
            record = self._record_next or newest.id - self._recorded >= RECORD_EVERY_SNAPSHOTS
            done = complete_range(
                self.store,
                self._position,
                newest.id,
                record=record,
                flagging=self.flagger,
                newest=self.newest,
            )
            self._position = done.position
            self.health.position = done.position.snapshot
            if done.recorded:
                self._recorded = done.position.snapshot
                self._record_next = False
            self.health.ranges += 1
            self.health.duplicates_dropped += done.duplicates
            self.health.flags_changed += done.flags_changed
            if feed:
                self._feed(done)
        self._measure_lag(newest.id)

    def _measure_lag(self, newest: int) -> None:
        position = self._position.snapshot
        self.health.lag_snapshots = newest - position
        oldest = snapshot_time(self.store, position + 1) if newest > position else None
        self.health.lag_s = (dt.datetime.now(dt.UTC) - oldest).total_seconds() if oldest else 0.0

    def _feed(self, done: Range) -> None:
        if self.live is None or (done.pings.height == 0 and done.events.height == 0):
            return
        assert self.grid_set is not None
        pings = done.pings.drop("rowid")
        grid = assign(self.grid_set, pings["lon"].to_numpy(), pings["lat"].to_numpy())
        self.health.pings += pings.height
        self.live.submit(CommittedBatch(pings, np.asarray(grid, dtype=np.int32), done.events))

    def _maintain_if_due(self) -> None:
        if time.monotonic() < self._next_maintenance:
            return
        self._next_maintenance = time.monotonic() + self.settings.maintenance_every_s
        self.maintain()

    def maintain(self) -> None:
        """Purge past the retention limit (when due) and rewrite the files holding deleted
        rows, merge small files, expire old snapshots, delete the files they freed."""
        keep = dt.timedelta(seconds=self.settings.keep_snapshots_s)
        older_than = dt.datetime.now(dt.UTC) - keep
        started = time.perf_counter()
        purged = self.retention.purge_if_due()
        rewritten = rewrite_deleted_files(self.store)
        self.health.files_rewritten += rewritten
        if purged is not None or rewritten:  # so the snapshots before can be expired
            self._record_next = True
        self.health.files_merged += merge_files(self.store)
        progress = read_progress(self.store)
        if progress is not None:
            self.health.snapshots_expired += expire_snapshots(
                self.store, progress.snapshot, older_than
            )
        self.health.files_deleted += cleanup_files(self.store, older_than)
        log.info(
            "maintenance in %.1f s: %d files merged so far",
            time.perf_counter() - started,
            self.health.files_merged,
        )
