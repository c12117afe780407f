"""The alerts another process stores, followed from storage: the api role's alert stream.

An api process raises no alert; the stage stores them (``alerts``) and this reads what is new
at each poll and returns it once. New is by ``raised_at`` and ``alert_id``: each poll reads
the alerts raised from ``LATE_S`` before the newest one seen, and returns those whose id it
has not returned yet. So alerts raised in the same microsecond, and an alert committed after
one raised later than it (a stage taking over with a clock a little behind the last one's,
a retried write), are each returned once, as long as the one came at most ``LATE_S`` after
the other; the ids remembered are those of that last stretch only.
"""

from __future__ import annotations

import datetime as dt
import time

from geofence.alerts import Alert
from patrol.live import Clock
from patrol.outbox import stored_alerts
from tracks.alerts import read_alerts_since
from tracks.store import Store

#: How far back before the newest alert seen each poll looks for alerts committed late.
LATE_S = 300.0


class AlertFollower:
    """Alerts stored before it is made are history: :meth:`poll` returns those after."""

    def __init__(self, store: Store, *, clock: Clock = time.time) -> None:
        self.store = store
        self.newest = clock()  # raised_at of the newest alert seen (epoch s)
        self.returned = 0
        self._seen: dict[str, float] = {}  # alert id -> raised_at, of the last LATE_S
        self._read()  # the history: seen, not returned

    def poll(self) -> list[Alert]:
        """The alerts stored since the last poll (raises StoreError), oldest first."""
        new = self._read()
        self.returned += len(new)
        return new

    def _read(self) -> list[Alert]:
        since = dt.datetime.fromtimestamp(self.newest - LATE_S, dt.UTC)
        new = [
            a
            for a in stored_alerts(read_alerts_since(self.store, since))
            if a.alert_id not in self._seen
        ]
        for alert in new:
            self._seen[alert.alert_id] = alert.raised_at
            self.newest = max(self.newest, alert.raised_at)
        horizon = self.newest - LATE_S - 1.0  # a second's margin over the read's microseconds
        self._seen = {i: t for i, t in self._seen.items() if t >= horizon}
        return new
