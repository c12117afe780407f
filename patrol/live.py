"""Live state: each grid's last visit, the grids overdue or due soon, the devices offline and
the roster's workers' conditions (geofence/workers.py) *now*.

Alerts are about the present. A condition (a grid overdue, a device offline) is raised when
it becomes true at the live clock's now, and ended (cleared, device online) when it stops
being true now. Fixes older than the offline threshold, or a visit older than the grid's
interval, update the state but end nothing: replaying a backlog of old fixes leaves each
condition as it is until the replay reaches the present, so the alert history never flaps.
New conditions are raised only by :meth:`LiveState.evaluate` with ``may_raise`` (the live
stage passes False while a backlog drains), so a device whose messages still wait in the
broker is not called offline.

One thread (the live updater) calls the methods; readers take :meth:`LiveState.snapshot`, an
immutable view replaced after every change.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from geofence.alerts import ALARM_BITS, ALARM_MASK, Alert, AlertKind
from geofence.config import GeofenceSettings
from geofence.fixes import Fixes
from geofence.grids import GridSet
from geofence.service import service_intervals
from geofence.visits import find_visits
from geofence.workers import WorkerWatch
from patrol.config import LiveSettings

Clock = Callable[[], float]


@dataclass(frozen=True)
class LastFix:
    ts: float
    lon: float
    lat: float
    grid: int  # leaf index, -1 outside


@dataclass(frozen=True)
class LiveSnapshot:
    """What the live state knew at ``taken_at``; never changes after it is made."""

    taken_at: float
    event_time: float  # the newest fix time seen (-inf before the first)
    grid_ids: tuple[str, ...]
    last_visit: np.ndarray  # per leaf, epoch seconds, -inf when never visited (read-only)
    overdue: Mapping[str, float]  # leaf grid id -> overdue since
    due_soon: Mapping[str, float]  # leaf grid id -> due soon since
    last_seen: Mapping[str, float]  # device id -> newest usable fix time
    last_fix: Mapping[str, LastFix]
    offline: frozenset[str]
    workers: Mapping[str, Mapping[str, float]]  # worker alert kind -> device id -> since

    def is_online(self, device_id: str) -> bool:
        return device_id in self.last_seen and device_id not in self.offline

    def newest_visit(self, leaves: Sequence[int] | np.ndarray) -> float:
        """The newest visit of any of these leaves (-inf when none)."""
        if len(leaves) == 0:
            return -math.inf
        return float(self.last_visit[np.asarray(leaves, dtype=np.int64)].max())


@dataclass
class StoredState:
    """What storage tells at start: the live state is rebuilt from it."""

    last_visit: Mapping[str, float] = field(default_factory=dict)  # grid id -> ts
    last_fix: Mapping[str, tuple[float, float, float, str | None]] = field(default_factory=dict)
    # device id -> (ts, lon, lat, grid id)
    # newest (kind, subject, at) per subject, and per alarm (ALARM_FAMILIES) of a device
    open_alerts: Sequence[tuple[str, str, float]] = ()
    due_soon: Sequence[tuple[str, float]] = ()  # (grid id, since) of the due_soon left open


#: Each alarm kind, raised or ended, to its raised kind: the families of
#: :func:`tracks.queries.read_latest_alerts` whose newest alert tells an open alarm.
ALARM_FAMILIES = {
    str(kind): str(raised) for raised, ended in ALARM_BITS.values() for kind in (raised, ended)
}
_ALARM_BIT = {str(raised): bit for bit, (raised, _) in ALARM_BITS.items()}


class LiveState:
    def __init__(
        self,
        grid_set: GridSet,
        settings: GeofenceSettings,
        live: LiveSettings | None = None,
        *,
        clock: Clock = time.time,
    ) -> None:
        self.grid_set = grid_set
        self.settings = settings
        self.live = live or LiveSettings()
        self.clock = clock
        self.tz = settings.tz
        self._leaf = {gid: i for i, gid in enumerate(grid_set.ids)}
        self._interval = np.array([grid_set.by_id[g].interval_s for g in grid_set.ids], float)
        self._hours = [grid_set.by_id[g].service_hours for g in grid_set.ids]
        self._last_visit = np.full(len(grid_set.ids), -np.inf)
        self._overdue: dict[str, float] = {}
        self._due_soon: dict[str, tuple[float, str | None]] = {}  # grid -> (since, worker named)
        self._last_fix: dict[str, LastFix] = {}
        self._offline: dict[str, float] = {}  # device -> offline since
        self._last_will: dict[str, float] = {}  # device -> time of its last will
        self._alarms: dict[str, tuple[float, int]] = {}  # device -> (fix time, bits raised)
        self._watermark = -math.inf  # newest fix time seen
        self._watch_from: float | None = None  # grids never visited are overdue from here
        self.workers: WorkerWatch | None = None  # the roster's workers (geofence/workers.py)
        self._ending: list[Alert] = []  # worker alerts ended by a new roster, not yet raised
        self._snapshot = self._make_snapshot()

    # --- reading ---------------------------------------------------------------------

    def snapshot(self) -> LiveSnapshot:
        return self._snapshot

    def now(self) -> float:
        if self.live.live_clock == "event":
            return self._watermark if math.isfinite(self._watermark) else self.clock()
        return self.clock()

    def started(self) -> bool:
        """Whether the live clock runs: on event time, not before the first fix."""
        return self.live.live_clock != "event" or math.isfinite(self._watermark)

    # --- changing --------------------------------------------------------------------

    def load(self, stored: StoredState) -> None:
        """Start from what storage holds (replaces nothing already applied)."""
        for grid_id, ts in stored.last_visit.items():
            g = self._leaf.get(grid_id)
            if g is not None:
                self._last_visit[g] = max(self._last_visit[g], ts)
        for device_id, (ts, lon, lat, in_grid) in stored.last_fix.items():
            leaf = self._leaf.get(in_grid, -1) if in_grid is not None else -1
            self._remember(device_id, LastFix(ts, lon, lat, leaf))
        for kind, subject, at in stored.open_alerts:
            if kind == AlertKind.OVERDUE and subject in self._leaf:
                self._overdue[subject] = at
            elif kind == AlertKind.DEVICE_OFFLINE:
                self._offline[subject] = at
            elif kind in _ALARM_BIT:
                since, bits = self._alarms.get(subject, (at, 0))
                self._alarms[subject] = (max(since, at), bits | 1 << _ALARM_BIT[kind])
        for grid_id, at in stored.due_soon:
            if grid_id in self._leaf:
                self._due_soon[grid_id] = (at, None)
        self._snapshot = self._make_snapshot()

    def apply_fixes(
        self,
        device_ids: Sequence[str],
        ts: np.ndarray,
        lon: np.ndarray,
        lat: np.ndarray,
        grid: np.ndarray,
    ) -> list[Alert]:
        """Usable fixes just committed (any order), each with its leaf index (-1 outside).

        Updates last visits (fixes inside and segments crossing a grid, joined to each
        device's previous fix) and last-seen times; ends the conditions that stopped being
        true now. Returns the alerts that ended them.
        """
        if len(ts) == 0:
            return []
        fixes = self._fixes(device_ids, ts, lon, lat, grid)
        visits = find_visits(self.grid_set, fixes, self.settings.segment_max_s)
        newest = np.full(len(self.grid_set.ids), -np.inf)
        np.maximum.at(newest, visits.grid, visits.ts)
        touched = np.flatnonzero(newest > self._last_visit)
        self._last_visit[touched] = newest[touched]
        last = np.flatnonzero(np.diff(fixes.device, append=-1))  # each device's newest row
        devices = []
        for k in last:
            device_id = fixes.devices[fixes.device[k]]
            t = float(fixes.ts[k])
            known = self._last_fix.get(device_id)
            if known is None or t >= known.ts:
                self._remember(
                    device_id,
                    LastFix(t, float(fixes.lon[k]), float(fixes.lat[k]), int(fixes.grid[k])),
                )
            devices.append(device_id)
        self._watermark = max(self._watermark, float(fixes.ts.max()))
        now = self.now()
        alerts = self._end_overdue(now, [self.grid_set.ids[g] for g in touched])
        alerts += self._end_offline(now, devices)
        alerts += self._end_due_soon(now)
        if self.workers is not None:
            self.workers.apply(device_ids, ts, lon, lat, grid, now)
            alerts += self.workers.evaluate(now, may_raise=False)
        self._snapshot = self._make_snapshot()
        return alerts

    def watch_workers(self, watch: WorkerWatch, ending: Sequence[Alert] = ()) -> None:
        """Judge the roster's workers with ``watch`` from now on; ``ending`` (conditions of
        devices no longer on the roster) go out at the next evaluation."""
        self.workers = watch
        self._ending.extend(ending)
        self._snapshot = self._make_snapshot()

    def apply_alarms(
        self, device_ids: Sequence[str], ts: np.ndarray, alarm: np.ndarray
    ) -> list[Alert]:
        """The alarm flags of fixes just committed (any order, usable or not: an SOS without
        a position is an SOS), NaN where a fix has none. Each mapped bit raises its alert
        when it sets and ends it when it clears, in fix-time order per device; a fix not
        newer than the device's newest one with flags changes nothing (a late upload does
        not reopen an alarm)."""
        alerts: list[Alert] = []
        rows = np.flatnonzero(~np.isnan(alarm))
        if not len(rows):
            return alerts
        order = rows[np.lexsort((ts[rows], np.asarray(device_ids, dtype=object)[rows]))]
        for k in order:
            device_id, t = device_ids[k], float(ts[k])
            since, old = self._alarms.get(device_id, (-math.inf, 0))
            if t <= since:
                continue
            new = int(alarm[k]) & ALARM_MASK
            self._alarms[device_id] = (t, new)
            for bit, (raised, ended) in ALARM_BITS.items():
                mask = 1 << bit
                if (new ^ old) & mask:
                    kind = raised if new & mask else ended
                    alerts.append(
                        Alert(kind, t, self.clock(), device_id=device_id, detail=f"bit {bit}")
                    )
        if alerts:
            self._snapshot = self._make_snapshot()
        return alerts

    def apply_last_wills(self, device_ids: Sequence[str], at: Sequence[float]) -> None:
        """OwnTracks last wills: the device is offline from then, unless a newer fix comes."""
        for device_id, t in zip(device_ids, at, strict=True):
            self._last_will[device_id] = max(t, self._last_will.get(device_id, -math.inf))

    def evaluate(self, *, may_raise: bool = True, now: float | None = None) -> list[Alert]:
        """End the conditions no longer true now and, if ``may_raise``, raise new ones."""
        if not self.started():
            return []
        now = self.now() if now is None else now
        if self._watch_from is None:
            self._watch_from = now
        alerts = self._end_overdue(now, list(self._overdue))
        alerts += self._end_offline(now, list(self._offline))
        alerts += self._ending
        self._ending = []
        gaps = self._gaps(now) if may_raise else {}
        if may_raise:
            alerts += self._raise_overdue(now, gaps)
            alerts += self._raise_offline(now)
        alerts += self._end_due_soon(now)
        if may_raise:
            alerts += self._raise_due_soon(now, gaps)
        if self.workers is not None:
            alerts += self.workers.evaluate(now, may_raise=may_raise)
        if alerts:
            self._snapshot = self._make_snapshot()
        return alerts

    # --- the conditions --------------------------------------------------------------

    def _service_start(self, g: int, now: float) -> float | None:
        """Start of the service interval holding ``now``; None out of service hours."""
        current = service_intervals(self._hours[g], now - 2 * 86400, now + 1e-3, self.tz)
        if not len(current) or current[-1, 1] < now or current[-1, 0] > now:
            return None
        return float(current[-1, 0])

    def _gap_start(self, g: int, now: float) -> float | None:
        """Start of the grid's current gap: its last visit (never visited: the start of
        watching) or the service interval's start, the later; None out of service hours."""
        opened = self._service_start(g, now)
        if opened is None:
            return None
        last = self._last_visit[g]
        watched = self._watch_from if self._watch_from is not None else now
        return max(float(last) if math.isfinite(last) else watched, opened)

    def _gaps(self, now: float) -> dict[int, float]:
        """Each grid not overdue and in service: its gap's start."""
        gaps = {}
        for g, grid_id in enumerate(self.grid_set.ids):
            if grid_id in self._overdue:
                continue
            since = self._gap_start(g, now)
            if since is not None:
                gaps[g] = since
        return gaps

    def _raise_overdue(self, now: float, gaps: dict[int, float]) -> list[Alert]:
        alerts = []
        for g, since in gaps.items():
            grid_id = self.grid_set.ids[g]
            interval = self._interval[g]
            if now - since > interval:
                at = since + interval
                self._overdue[grid_id] = at
                detail = f"no visit for {int(interval) // 60} min"
                alerts.append(
                    Alert(AlertKind.OVERDUE, at, self.clock(), grid_id=grid_id, detail=detail)
                )
        return alerts

    def _raise_due_soon(self, now: float, gaps: dict[int, float]) -> list[Alert]:
        """Grids whose gap reached their interval minus the lead, naming the nearest
        workers on shift (prompts before lateness, 预警)."""
        lead = self.live.due_soon_lead_s
        if lead <= 0:
            return []
        alerts = []
        for g, since in gaps.items():
            grid_id = self.grid_set.ids[g]
            due = self._interval[g] - lead
            if grid_id in self._overdue or grid_id in self._due_soon or now - since <= due:
                continue
            at = since + due
            names = self.live.due_soon_names
            near = self.workers.nearest(grid_id, now, names) if self.workers is not None else []
            device_id = near[0].device_id if near else None
            self._due_soon[grid_id] = (at, device_id)
            detail = "; ".join(
                f"{w.worker} ({w.device_id}) {w.distance_m:.0f} m, ETA "
                f"{math.ceil(w.eta_s / 60)} min"
                for w in near
            )
            alerts.append(
                Alert(AlertKind.DUE_SOON, at, self.clock(), grid_id=grid_id, device_id=device_id,
                      detail=f"due in {lead / 60:g} min; nearest: {detail or 'no worker on shift'}")
            )  # fmt: skip
        return alerts

    def _end_due_soon(self, now: float) -> list[Alert]:
        """A due-soon grid visited (its gap shorter than the interval minus the lead again),
        overdue, or out of service hours."""
        alerts = []
        for grid_id, (_, device_id) in list(self._due_soon.items()):
            g = self._leaf[grid_id]
            since = self._gap_start(g, now)
            if grid_id in self._overdue:
                at, why = self._overdue[grid_id], "overdue"
            elif since is None:
                at, why = now, "out of service hours"
            elif now - since <= self._interval[g] - self.live.due_soon_lead_s:
                at, why = float(self._last_visit[g]), "visited"
            else:
                continue
            del self._due_soon[grid_id]
            alerts.append(
                Alert(AlertKind.DUE_SOON_ENDED, at, self.clock(), grid_id=grid_id,
                      device_id=device_id, detail=why)
            )  # fmt: skip
        return alerts

    def _end_overdue(self, now: float, grid_ids: Sequence[str]) -> list[Alert]:
        """Clear an overdue grid visited after it fell due, by a visit that is recent now."""
        alerts = []
        for grid_id in grid_ids:
            since = self._overdue.get(grid_id)
            if since is None:
                continue
            g = self._leaf[grid_id]
            visit = float(self._last_visit[g])
            if visit > since - self._interval[g] and now - visit <= self._interval[g]:
                del self._overdue[grid_id]
                alerts.append(Alert(AlertKind.CLEARED, visit, self.clock(), grid_id=grid_id))
        return alerts

    def _last_will_since(self, device_id: str) -> float | None:
        """The time of a last will newer than every fix of the device, if there is one."""
        fix = self._last_fix.get(device_id)
        will = self._last_will.get(device_id, -math.inf)
        return will if will > (fix.ts if fix is not None else -math.inf) else None

    def _offline_now(self, device_id: str, now: float) -> bool:
        if self._last_will_since(device_id) is not None:
            return True
        fix = self._last_fix.get(device_id)
        return fix is not None and now - fix.ts > self.live.offline_after_s

    def _raise_offline(self, now: float) -> list[Alert]:
        alerts = []
        limit = self.live.offline_after_s
        for device_id in set(self._last_fix) | set(self._last_will):
            if device_id in self._offline or not self._offline_now(device_id, now):
                continue
            will = self._last_will_since(device_id)
            if will is not None:
                at, detail = will, "last will: the app lost its connection"
            else:
                at, detail = self._last_fix[device_id].ts + limit, f"silent for {limit:.0f} s"
            self._offline[device_id] = at
            alerts.append(
                Alert(
                    AlertKind.DEVICE_OFFLINE, at, self.clock(), device_id=device_id, detail=detail
                )
            )
        return alerts

    def _end_offline(self, now: float, device_ids: Sequence[str]) -> list[Alert]:
        alerts = []
        for device_id in device_ids:
            if device_id not in self._offline or self._offline_now(device_id, now):
                continue
            fix = self._last_fix.get(device_id)
            if fix is None:  # offline by a last will, which a rebuilt state does not know:
                continue  # no fix has ended it
            del self._offline[device_id]
            alerts.append(Alert(AlertKind.DEVICE_ONLINE, fix.ts, self.clock(), device_id=device_id))
        return alerts

    # --- helpers ---------------------------------------------------------------------

    def _remember(self, device_id: str, fix: LastFix) -> None:
        self._last_fix[device_id] = fix
        self._watermark = max(self._watermark, fix.ts)

    def _fixes(
        self,
        device_ids: Sequence[str],
        ts: np.ndarray,
        lon: np.ndarray,
        lat: np.ndarray,
        grid: np.ndarray,
    ) -> Fixes:
        """The new fixes and each device's previous newest fix, sorted by (device, ts)."""
        names = list(dict.fromkeys(device_ids))
        prev = [(d, self._last_fix[d]) for d in names if d in self._last_fix]
        all_names = np.asarray([*device_ids, *(d for d, _ in prev)], dtype=object)
        all_ts = np.concatenate([ts, [p.ts for _, p in prev]])
        all_lon = np.concatenate([lon, [p.lon for _, p in prev]])
        all_lat = np.concatenate([lat, [p.lat for _, p in prev]])
        all_grid = np.concatenate([grid, [p.grid for _, p in prev]]).astype(np.int32)
        uniq, codes = np.unique(all_names.astype(str), return_inverse=True)
        order = np.lexsort((all_ts, codes))
        return Fixes(
            devices=[str(n) for n in uniq],
            device=np.ascontiguousarray(codes[order], dtype=np.int64),
            ts=np.ascontiguousarray(all_ts[order], dtype=np.float64),
            lon=np.ascontiguousarray(all_lon[order], dtype=np.float64),
            lat=np.ascontiguousarray(all_lat[order], dtype=np.float64),
            grid=np.ascontiguousarray(all_grid[order], dtype=np.int32),
        )

    def _make_snapshot(self) -> LiveSnapshot:
        visits = self._last_visit.copy()
        visits.flags.writeable = False
        return LiveSnapshot(
            taken_at=self.now(),
            event_time=self._watermark,
            grid_ids=tuple(self.grid_set.ids),
            last_visit=visits,
            overdue=MappingProxyType(dict(self._overdue)),
            due_soon=MappingProxyType({g: at for g, (at, _) in self._due_soon.items()}),
            last_seen=MappingProxyType({d: f.ts for d, f in self._last_fix.items()}),
            last_fix=MappingProxyType(dict(self._last_fix)),
            offline=frozenset(self._offline),
            workers=MappingProxyType(self._open_workers()),
        )

    def _open_workers(self) -> dict[str, Mapping[str, float]]:
        opened: dict[str, dict[str, float]] = {}
        for c in self.workers.open_conditions() if self.workers is not None else ():
            opened.setdefault(str(c.kind), {})[c.device_id] = c.at
        return {k: MappingProxyType(v) for k, v in opened.items()}
