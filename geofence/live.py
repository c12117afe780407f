"""Live state: each grid's last visit, overdue and offline alerts, rebuilt from the database.

Alerts are stored in the ``alerts`` table and published on MQTT (QoS 1, JSON) under
``gridpatrol/v1/alerts/{kind}/{grid_id or device_id}``. The alert history keeps what was
known at the time; reports recompute from stored fixes, so late fixes make them right.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl

from geofence.config import GeofenceSettings
from geofence.fixes import make_fixes
from geofence.grids import GridSet
from geofence.service import service_intervals
from geofence.visits import find_visits
from tracks.store import Store, StoreError

log = logging.getLogger("gridpatrol.live")

ALERT_TOPIC = "gridpatrol/v1/alerts/{kind}/{subject}"


@dataclass(frozen=True)
class Alert:
    kind: str
    at: float  # when the condition began (event time), epoch seconds
    raised_at: float  # wall clock when gridpatrol raised it
    grid_id: str | None = None
    device_id: str | None = None
    detail: str = ""

    @property
    def alert_id(self) -> str:
        return f"{self.kind}:{self.grid_id or self.device_id}:{self.at:.3f}"

    def to_json(self, tz: ZoneInfo) -> dict[str, object]:
        return {
            "alert_id": self.alert_id,
            "kind": self.kind,
            "grid_id": self.grid_id,
            "device_id": self.device_id,
            "at": dt.datetime.fromtimestamp(self.at, tz).isoformat(),
            "raised_at": dt.datetime.fromtimestamp(self.raised_at, tz).isoformat(),
            "detail": self.detail,
        }


class LiveState:
    """Updated by the writer after each commit and by a ticker; thread-safe."""

    def __init__(
        self,
        grid_set: GridSet,
        settings: GeofenceSettings,
        store: Store,
        publish: Callable[[str, bytes], None] | None = None,
    ) -> None:
        self.grid_set = grid_set
        self.settings = settings
        self.store = store
        self.publish = publish
        self.tz = ZoneInfo(settings.timezone)
        self._lock = threading.Lock()
        self._leaf = {gid: i for i, gid in enumerate(grid_set.ids)}
        self.last_visit = np.full(len(grid_set.ids), -np.inf)
        self.overdue: dict[str, float] = {}  # grid -> overdue since
        self.last_seen: dict[str, float] = {}
        self.offline: set[str] = set()
        self.last_fix: dict[str, tuple[float, float, float]] = {}
        self.watermark = -np.inf
        self.watch_from: float | None = None  # grids never visited are overdue from here
        self.listeners: list[Callable[[Alert], None]] = []  # called with every new alert
        self.rebuild()

    def warm_up(self) -> None:
        """Load the compiled kernels now, not inside the first batch's latency."""
        b = self.grid_set.bbox
        lon = np.array([b[0, 0], b[0, 2]])
        lat = np.array([b[0, 1], b[0, 3]])
        fixes = make_fixes(self.grid_set, ["warm-up", "warm-up"], np.array([0.0, 1.0]), lon, lat)
        find_visits(self.grid_set, fixes, self.settings.segment_max_s)

    def rebuild(self) -> None:
        """Load last visits, last-seen times and open alerts from the database."""
        cur = self.store.cursor()
        for grid_id, ts in cur.execute(
            "SELECT grid_id, epoch(max(ts)) FROM pings "
            "WHERE flags = 0 AND grid_id IS NOT NULL GROUP BY grid_id"
        ).fetchall():
            if grid_id in self._leaf:
                self.last_visit[self._leaf[grid_id]] = ts
        rows = cur.execute(
            "SELECT device_id, epoch(max(ts)), arg_max(lon, ts), arg_max(lat, ts) "
            "FROM pings WHERE flags = 0 GROUP BY device_id"
        ).fetchall()
        for device_id, ts, lon, lat in rows:
            self.last_seen[device_id] = ts
            self.last_fix[device_id] = (ts, lon, lat)
            self.watermark = max(self.watermark, ts)
        for kind, grid_id, device_id, at in cur.execute(
            "SELECT arg_max(kind, raised_at), grid_id, device_id, epoch(arg_max(ts, raised_at)) "
            "FROM alerts GROUP BY grid_id, device_id"
        ).fetchall():
            if kind == "overdue" and grid_id in self._leaf:
                self.overdue[grid_id] = at
            if kind == "device_offline" and device_id is not None:
                self.offline.add(device_id)

    def now(self) -> float:
        if self.settings.live_clock == "event":
            return float(self.watermark) if np.isfinite(self.watermark) else time.time()
        return time.time()

    def on_stored(self, pings: pl.DataFrame) -> None:
        """After a commit: visits (fixes and crossings) and device activity."""
        usable = pings.filter(pl.col("flags") == 0)
        if usable.height == 0:
            return
        with self._lock:
            devices = usable["device_id"].to_list()
            ts = usable["ts"].dt.epoch("us").to_numpy() / 1e6
            lon = usable["lon"].to_numpy()
            lat = usable["lat"].to_numpy()
            prev = [(d, *self.last_fix[d]) for d in set(devices) if d in self.last_fix]
            all_dev = devices + [p[0] for p in prev]
            all_ts = np.concatenate([ts, [p[1] for p in prev]])
            all_lon = np.concatenate([lon, [p[2] for p in prev]])
            all_lat = np.concatenate([lat, [p[3] for p in prev]])
            fixes = make_fixes(self.grid_set, all_dev, all_ts, all_lon, all_lat)
            visits = find_visits(self.grid_set, fixes, self.settings.segment_max_s)
            newest = np.full(len(self.grid_set.ids), -np.inf)
            np.maximum.at(newest, visits.grid, visits.ts)
            alerts = []
            for g in np.flatnonzero(newest > self.last_visit):
                self.last_visit[g] = newest[g]
                grid_id = self.grid_set.ids[g]
                if grid_id in self.overdue:
                    del self.overdue[grid_id]
                    alerts.append(Alert("cleared", float(newest[g]), time.time(), grid_id=grid_id))
            bounds = np.flatnonzero(np.diff(fixes.device, append=-1))
            for k in bounds:
                device_id = fixes.devices[fixes.device[k]]
                t = float(fixes.ts[k])
                if t >= self.last_seen.get(device_id, -np.inf):
                    self.last_seen[device_id] = t
                    self.last_fix[device_id] = (t, float(fixes.lon[k]), float(fixes.lat[k]))
                if device_id in self.offline:
                    self.offline.discard(device_id)
                    alerts.append(Alert("device_online", t, time.time(), device_id=device_id))
            self.watermark = max(self.watermark, float(ts.max()))
        self._raise(alerts)

    def on_events(self, events: pl.DataFrame) -> None:
        """OwnTracks last-will messages mark a device offline at once."""
        alerts = []
        with self._lock:
            for device_id, event, received in events.iter_rows():
                if event == "lwt" and device_id not in self.offline:
                    self.offline.add(device_id)
                    at = received.timestamp()
                    alerts.append(
                        Alert(
                            "device_offline",
                            at,
                            time.time(),
                            device_id=device_id,
                            detail="last will: the app lost its connection",
                        )
                    )
        self._raise(alerts)

    def tick(self, now: float | None = None) -> list[Alert]:
        """Raise overdue and offline alerts that have come due."""
        now = self.now() if now is None else now
        if self.settings.live_clock == "event" and not np.isfinite(self.watermark):
            return []  # no fix seen yet: event time has not started
        if self.watch_from is None:
            self.watch_from = now
        alerts = []
        with self._lock:
            for g, grid_id in enumerate(self.grid_set.ids):
                grid = self.grid_set.by_id[grid_id]
                if grid_id in self.overdue:
                    continue
                current = service_intervals(
                    grid.service_hours, now - 2 * 86400, now + 1e-3, self.tz
                )
                if not len(current) or current[-1, 1] < now:
                    continue
                last = float(self.last_visit[g])
                # a grid never visited since we started watching counts from then
                since = max(last if np.isfinite(last) else self.watch_from, float(current[-1, 0]))
                if now - since > grid.interval_s:
                    at = since + grid.interval_s
                    self.overdue[grid_id] = at
                    detail = f"no visit for {grid.interval_s // 60} min"
                    alerts.append(Alert("overdue", at, time.time(), grid_id=grid_id, detail=detail))
            limit = self.settings.offline_after_s
            for device_id, seen in self.last_seen.items():
                if device_id not in self.offline and now - seen > limit:
                    self.offline.add(device_id)
                    alerts.append(Alert("device_offline", seen + limit, time.time(),
                                        device_id=device_id,
                                        detail=f"silent for {limit:.0f} s"))  # fmt: skip
        self._raise(alerts)
        return alerts

    def _raise(self, alerts: list[Alert]) -> None:
        if not alerts:
            return
        frame = pl.DataFrame(
            {
                "alert_id": [a.alert_id for a in alerts],
                "kind": [a.kind for a in alerts],
                "grid_id": [a.grid_id for a in alerts],
                "device_id": [a.device_id for a in alerts],
                "ts": [int(a.at * 1e6) for a in alerts],
                "raised_at": [int(a.raised_at * 1e6) for a in alerts],
                "detail": [a.detail for a in alerts],
            },
            schema_overrides={"grid_id": pl.String, "device_id": pl.String},
        ).with_columns(pl.col("ts", "raised_at").cast(pl.Datetime("us", "UTC")))
        try:
            with self.store.transaction() as con:
                con.register("new_alerts", frame)
                con.execute("INSERT OR IGNORE INTO alerts SELECT * FROM new_alerts")
                con.unregister("new_alerts")
        except StoreError as exc:  # still published and streamed; the history misses them
            log.error("%d alert(s) not stored: %s", len(alerts), exc)
        for alert in alerts:
            log.info("alert %s %s at %s", alert.kind, alert.grid_id or alert.device_id,
                     dt.datetime.fromtimestamp(alert.at, self.tz).isoformat())  # fmt: skip
            if self.publish is not None:
                topic = ALERT_TOPIC.format(
                    kind=alert.kind, subject=alert.grid_id or alert.device_id
                )
                self.publish(topic, json.dumps(alert.to_json(self.tz)).encode())
            for listener in self.listeners:
                listener(alert)
