"""The live updater: committed batches in, live state and alerts out, on its own thread.

Ingest hands each batch over after it is committed and acknowledged (:meth:`LiveUpdater.submit`,
a bounded queue), so neither the acknowledgement's latency nor ingest's progress depends on
this updater. A failure here is logged, counted and shown in ``/health``; it never stops
ingest. A batch the updater could not take in time is dropped and the state is rebuilt from
storage once the queue is empty again, since storage holds every fact the state is made of.

Alerts go out through :class:`patrol.outbox.Outbox`: stored, then published (MQTT and the
listeners), then recorded as published once the broker acknowledged them.

The derived patrol data is kept current from here: each batch's fix times go to
:class:`patrol.upkeep.DerivedUpkeep`, which derives the days they touched on its own thread.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import polars as pl

from base.health import Reading, counter, detail, measure
from geofence.alerts import WORKER_ENDED_BY, Alert, AlertKind
from geofence.config import GeofenceSettings
from geofence.grids import GridSet
from geofence.rosters import Calendar
from geofence.workers import OpenCondition, WorkerWatch, warm_up_workers
from patrol.config import LiveSettings
from patrol.live import ALARM_FAMILIES, Clock, LiveSnapshot, LiveState, StoredState
from patrol.outbox import Outbox, Publish
from patrol.outside import OutsideWatch
from patrol.upkeep import DerivedUpkeep
from patrol.workers import Roster, load_watch, read_live_roster
from tracks.queries import (
    count_outside_before,
    read_last_fixes,
    read_last_visits,
    read_latest_alerts,
    read_open_alerts,
)
from tracks.store import Store

log = logging.getLogger("gridpatrol.live")

#: Committed batches the stage may hold before ``submit`` waits.
QUEUE_BATCHES = 8

#: The families of read_latest_alerts kept apart from overdue and offline (the family ''):
#: the alarms, and the worker alerts and due_soon (which name a grid and a device; their open
#: conditions are read with read_open_alerts).
LATEST_FAMILIES = {
    **ALARM_FAMILIES,
    **{
        str(kind): str(raised)
        for raised, ended in (
            *WORKER_ENDED_BY.items(),
            (AlertKind.DUE_SOON, AlertKind.DUE_SOON_ENDED),
        )
        for kind in (raised, ended)
    },
}

#: How long ``submit`` waits for room before it drops the batch (and the stage rebuilds).
SUBMIT_WAIT_S = 5.0


class CommittedBatch(NamedTuple):
    """What one commit stored: its pings, the leaf index of each (from prepare), events.

    The pings carry their flags as the commit set them (in fix-time order per device, with
    the stored fixes). A late fix may also change the flags of older stored rows in that
    commit; those are not handed here: the change only needs to reach storage, which the
    reports and the derived data read (the live state moves on with new fixes)."""

    pings: pl.DataFrame
    grid: np.ndarray  # int32 leaf index per ping row, -1 outside every grid
    events: pl.DataFrame


#: A live-stage failure this recent makes /health report it.
LIVE_FAILURE_SHOWN_S = 300.0


@dataclass
class LiveHealth:
    """For /health and /metrics (base/health.py)."""

    batches: int = detail(
        "committed batches the live updater has applied", default=0, key="live_stage.batches"
    )
    ticks: int = detail("ticks run", default=0)
    alerts: int = detail("alerts raised", default=0)
    failures: int = counter(
        "gridpatrol_live_failures",
        "live-stage steps that failed (ingest went on)",
        key="live_stage.failures",
    )
    dropped: int = counter(
        "gridpatrol_live_batches_dropped",
        "batches the live updater could not take (it then rebuilt)",
    )
    rebuilds: int = detail("times the live state was rebuilt from storage", default=0)
    last_error: str = detail("the last failure", default="", key="live_stage.last_error")
    last_error_at: float | None = detail("epoch seconds of the last failure")

    def problems(self) -> list[str]:
        recent = self.last_error_at is not None and (
            time.time() - self.last_error_at < LIVE_FAILURE_SHOWN_S
        )
        return [f"live updater failing: {self.last_error}"] if recent else []


class LiveUpdater:
    HEALTH_PARTS = ("health", "outbox", "upkeep", "outside")  # base/health.py

    def __init__(
        self,
        grid_set: GridSet,
        settings: GeofenceSettings,
        store: Store,
        live: LiveSettings | None = None,
        *,
        publish: Publish | None = None,
        draining: Callable[[], bool] = lambda: False,
        clock: Clock = time.time,
    ) -> None:
        self.grid_set = grid_set
        self.settings = settings
        self.live = live or LiveSettings()
        self.store = store
        self.publish = publish
        self.draining = draining
        self.clock = clock
        self.health = LiveHealth()
        self.listeners: list[Callable[[Alert], None]] = []  # called with every stored alert
        self.upkeep = DerivedUpkeep(grid_set, settings, store, every_s=self.live.derive_every_s)
        self.outside = OutsideWatch(count_outside_before(store))  # a wrong datum shows here
        self._queue: queue.Queue[CommittedBatch | None] = queue.Queue(QUEUE_BATCHES)
        self._stale = False
        self._thread: threading.Thread | None = None
        self._roster = Roster((), Calendar({}))
        self._roster_read_at = time.monotonic()
        self.state = self._rebuilt()
        # stored, then published, then recorded (patrol/outbox.py); used from start() on
        self.outbox = Outbox(store, publish, self.listeners, self.state.tz, clock=clock)

    def snapshot(self) -> LiveSnapshot:
        return self.state.snapshot()

    @measure(
        Reading(
            "gauge",
            "committed batches waiting for the live updater",
            "gridpatrol_live_pending",
            "live_stage.pending",
        )
    )
    def pending(self) -> int:
        return self._queue.qsize()

    @measure(Reading("gauge", "grids overdue now", "gridpatrol_grids_overdue"))
    def grids_overdue(self) -> int:
        return len(self.snapshot().overdue)

    @measure(Reading("gauge", "devices offline now", "gridpatrol_devices_offline"))
    def devices_offline(self) -> int:
        return len(self.snapshot().offline)

    def warm_up(self) -> None:
        """Compile the kernels now, not inside the first batch's latency."""
        probe = LiveState(self.grid_set, self.settings, self.live, clock=self.clock)
        b = self.grid_set.bbox
        probe.apply_fixes(
            ["warm-up", "warm-up"],
            np.array([0.0, 1.0]),
            np.array([b[0, 0], b[0, 2]]),
            np.array([b[0, 1], b[0, 3]]),
            np.array([-1, -1], dtype=np.int32),
        )
        warm_up_workers()

    def reload(self) -> None:
        """Take the state again from storage: what a process that is not the stage shows
        (``serve --role api``: the last visits and fixes the lake holds, and the conditions
        the stage's stored alerts left open). The workers' fixes are not read: such a
        process only shows the open conditions, it judges nothing."""
        self.state = self._rebuilt(judging=False)

    def _rebuilt(self, *, judging: bool = True) -> LiveState:
        state = LiveState(self.grid_set, self.settings, self.live, clock=self.clock)
        state.load(
            StoredState(
                read_last_visits(self.store),
                read_last_fixes(self.store),
                read_latest_alerts(self.store, LATEST_FAMILIES),
                [
                    (grid_id, at)
                    for _, grid_id, at in read_open_alerts(
                        self.store,
                        {str(AlertKind.DUE_SOON): str(AlertKind.DUE_SOON_ENDED)},
                        "grid_id",
                    )
                ],
            )
        )
        self._roster = read_live_roster(self.store)
        self._roster_read_at = time.monotonic()
        state.watch_workers(*self._watch(state, self._roster, None, judging=judging))
        return state

    def _watch(
        self,
        state: LiveState,
        roster: Roster,
        open_conditions: list[OpenCondition] | None,
        *,
        judging: bool = True,
    ) -> tuple[WorkerWatch, list[Alert]]:
        return load_watch(
            self.grid_set,
            self.settings,
            self.live,
            self.store,
            roster,
            state.now(),
            clock=self.clock,
            open_conditions=open_conditions,
            with_fixes=judging,
        )

    def _follow_roster(self) -> None:
        """A roster or calendar changed in storage (an import while serve runs on a lake):
        the workers are watched by it from now on, their open conditions kept."""
        if time.monotonic() - self._roster_read_at < self.live.roster_every_s:
            return
        self._roster_read_at = time.monotonic()
        roster = read_live_roster(self.store)
        if roster == self._roster:
            return
        held = self.state.workers.open_conditions() if self.state.workers is not None else []
        self.state.watch_workers(*self._watch(self.state, roster, held))
        self._roster = roster
        log.info("roster changed: %d rows watched from now", len(roster.entries))

    # --- the ingest side -------------------------------------------------------------

    def submit(self, batch: CommittedBatch) -> None:
        """Called by the commit thread after the acknowledgement."""
        try:
            self._queue.put(batch, timeout=SUBMIT_WAIT_S)
        except queue.Full:
            self.health.dropped += 1
            self._stale = True
            log.error(
                "live updater behind by %d batches: one dropped, will rebuild from storage",
                QUEUE_BATCHES,
            )

    # --- the thread ------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="live", daemon=True)
        self._thread.start()
        self.upkeep.start()

    def stop(self) -> None:
        """Handle what was submitted, then end the thread."""
        if self._thread is None:
            return
        self._queue.put(None)
        self._thread.join(30)
        self._thread = None
        self.upkeep.stop()

    def _run(self) -> None:
        # first of all: what a process stopped between storing and publishing left
        self._guarded(self.outbox.flush)
        next_tick = time.monotonic()
        while True:
            try:
                batch = self._queue.get(timeout=max(0.0, next_tick - time.monotonic()))
            except queue.Empty:
                pass  # nothing committed meanwhile: time to tick
            else:
                if batch is None:
                    self._guarded(self.outbox.close)
                    return
                self._guarded(self.apply, batch)
            if time.monotonic() >= next_tick:
                next_tick = time.monotonic() + self.live.tick_s
                self._guarded(self.tick)

    def _guarded(self, step: Callable[..., object], *args: object) -> None:
        try:
            step(*args)
        except Exception as exc:  # a bug or bad state: counted and shown, ingest goes on
            self.health.failures += 1
            self.health.last_error = f"{type(exc).__name__}: {exc}"
            self.health.last_error_at = time.time()
            log.exception("live updater failed; ingest continues")

    def apply(self, batch: CommittedBatch) -> None:
        """One committed batch: visits and activity, and the conditions they end."""
        self.health.batches += 1
        # alarms first and from every fix: an SOS from a tracker without a fix is one
        raised = self.state.apply_alarms(
            batch.pings["device_id"].to_list(),
            batch.pings["ts"].dt.epoch("us").to_numpy() / 1e6,
            batch.pings["alarm"].cast(pl.Float64).fill_null(np.nan).to_numpy(),
        )
        usable = np.flatnonzero(batch.pings["flags"].to_numpy() == 0)
        pings = batch.pings[usable]
        ts = pings["ts"].dt.epoch("us").to_numpy() / 1e6
        self.upkeep.touch(ts)
        self.outside.add(batch.grid[usable])
        alerts = self.state.apply_fixes(
            pings["device_id"].to_list(),
            ts,
            pings["lon"].to_numpy(),
            pings["lat"].to_numpy(),
            np.ascontiguousarray(batch.grid[usable], dtype=np.int32),
        )
        wills = batch.events.filter(pl.col("event") == "lwt")
        if wills.height:
            self.state.apply_last_wills(
                wills["device_id"].to_list(),
                (wills["received_at"].dt.epoch("us").to_numpy() / 1e6).tolist(),
            )
        self._raise(raised + alerts)

    def tick(self) -> list[Alert]:
        """Raise what has come due; new conditions wait while a backlog drains."""
        self.health.ticks += 1
        if self._stale and self._queue.empty():
            self._stale = False
            self.health.rebuilds += 1
            self.state = self._rebuilt()
            if dropped := self.outbox.drop_unstored():  # raised again if still true
                log.warning("%d alert(s) not stored forgotten: the state is rebuilt", dropped)
        self._follow_roster()
        may_raise = self._queue.empty() and not self.draining()
        alerts = self.state.evaluate(may_raise=may_raise)
        if alerts:
            self._raise(alerts)
        else:  # retries what waits: a failed write, acknowledgements not recorded
            self.outbox.flush()
        return alerts

    def _raise(self, alerts: list[Alert]) -> None:
        """Alerts go out through the outbox: stored first, then published."""
        if not alerts:
            return
        self.health.alerts += len(alerts)
        self.outbox.add(alerts)
        self.outbox.flush()
