"""The alerts' outbox: an alert is published only once it is stored, and what the broker
acknowledged is recorded, so none is lost or published under another id across a crash.

The live updater hands every alert it raises to :meth:`Outbox.add`; each step
(:meth:`Outbox.flush`, after every batch and every tick):

1. stores the alerts raised and not stored yet (``write_alerts``). A failed write publishes
   nothing: the alerts wait (the live state keeps them as raised) and the write is tried
   again at the next step;
2. publishes the stored ones on MQTT (QoS 1) and hands them to the in-process listeners
   (the API's alert stream), except an id ``alerts_published`` records already (an alert
   storage knew, raised again);
3. records in ``alerts_published`` the alerts the broker has acknowledged (PUBACK).

At start (a restarted ``serve``, a stage taking over), before anything else, the stored
alerts of the last ``PUBLISH_HORIZON_S`` that ``alerts_published`` does not record are
published: what a process killed between storing and recording left. So delivery is at
least once: a process killed after the broker's acknowledgement and before the record
publishes that alert again at the next start, with the same ``alert_id``; an alert not
stored is never published, so a condition is never published under two ids.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol
from zoneinfo import ZoneInfo

import polars as pl

from base.health import Reading, counter, detail, measure
from base.topics import alert_topic
from geofence.alerts import Alert, AlertKind
from patrol.live import Clock
from tracks.alerts import read_published_ids, read_unpublished_alerts
from tracks.store import ALERTS_SCHEMA, Store, StoreError

log = logging.getLogger("gridpatrol.live")


#: Stored alerts raised longer ago than this and never recorded as published are not
#: published at start: news a day old is history (``GET /alerts`` lists them). A process
#: is restarted, or a standby takes over, within seconds; a day leaves room for an outage.
PUBLISH_HORIZON_S = 86400.0

#: On a clean stop, how long the outbox waits for the broker to acknowledge what it
#: published (what is not acknowledged by then is published again at the next start).
STOP_ACK_WAIT_S = 2.0


class Delivery(Protocol):
    """What a publish returns (paho's ``MQTTMessageInfo``)."""

    def is_published(self) -> bool: ...


Publish = Callable[[str, bytes], Delivery | None]


@dataclass
class OutboxHealth:
    """For /health and /metrics (the gauges are :meth:`Outbox.unstored` and ``unacked``)."""

    published: int = counter("gridpatrol_alerts_published", "alerts published after being stored")
    republished: int = counter(
        "gridpatrol_alerts_republished",
        "stored alerts published at start or takeover, never recorded as published before",
    )
    store_failures: int = counter(
        "gridpatrol_alert_store_failures",
        "alert writes (and outbox reads) that failed; retried, nothing published meanwhile",
        key="live_stage.alert_store_failures",
    )
    record_failures: int = detail("records of published alerts that failed; retried", default=0)
    last_error: str = detail("the last failure", default="")


def alert_rows(alerts: list[Alert]) -> pl.DataFrame:
    """Alerts as rows of ``alerts``."""
    return pl.DataFrame(
        {
            "alert_id": [a.alert_id for a in alerts],
            "kind": [str(a.kind) for a in alerts],
            "grid_id": [a.grid_id for a in alerts],
            "device_id": [a.device_id for a in alerts],
            "ts": [int(a.at * 1e6) for a in alerts],
            "raised_at": [int(a.raised_at * 1e6) for a in alerts],
            "detail": [a.detail for a in alerts],
        },
        schema_overrides={"grid_id": pl.String, "device_id": pl.String},
    ).with_columns(pl.col("ts", "raised_at").cast(ALERTS_SCHEMA["ts"]))


def stored_alerts(rows: pl.DataFrame) -> list[Alert]:
    """Rows of ``alerts`` as alerts that keep their stored id."""
    return [
        Alert(
            AlertKind(r["kind"]),
            r["ts"].timestamp(),
            r["raised_at"].timestamp(),
            grid_id=r["grid_id"],
            device_id=r["device_id"],
            detail=r["detail"],
            stored_id=r["alert_id"],
        )
        for r in rows.iter_rows(named=True)
    ]


class Outbox:
    """Used by the live updater's thread only (``close`` after the thread ended)."""

    HEALTH_PARTS = ("health",)  # base/health.py

    def __init__(
        self,
        store: Store,
        publish: Publish | None,
        listeners: list[Callable[[Alert], None]],
        tz: ZoneInfo,
        *,
        clock: Clock = time.time,
    ) -> None:
        self.store = store
        self.publish = publish
        self.listeners = listeners  # the live updater's list: appended to after start
        self.tz = tz
        self.clock = clock
        self.health = OutboxHealth()
        self._replayed = False
        self._unstored: list[Alert] = []  # raised, not stored yet: not published
        self._unacked: list[tuple[str, Delivery | None]] = []  # published, not recorded yet

    @measure(
        Reading(
            "gauge",
            "alerts raised, not stored yet, so not published (the write is retried every tick)",
            "gridpatrol_alerts_unstored",
            "live_stage.alerts_unstored",
        )
    )
    def unstored(self) -> int:
        return len(self._unstored)

    @measure(
        Reading(
            "gauge",
            "alerts published, not acknowledged by the broker yet (so not recorded as published)",
            "gridpatrol_alerts_unacked",
            "live_stage.alerts_unacked",
        )
    )
    def unacked(self) -> int:
        return len(self._unacked)

    def problems(self) -> list[str]:
        if not self._unstored:
            return []
        return [
            f"{len(self._unstored)} alert(s) not stored, so not published yet: "
            f"{self.health.last_error}"
        ]

    def add(self, alerts: list[Alert]) -> None:
        """Alerts just raised: stored, then published, by the next :meth:`flush`."""
        self._unstored.extend(alerts)

    def drop_unstored(self) -> int:
        """Forget the alerts not stored (the live state was rebuilt from storage, which
        raises again what is still true); returns how many."""
        dropped, self._unstored = len(self._unstored), []
        return dropped

    def flush(self) -> None:
        """Publish what start found unpublished (once), store and publish what waits, record
        what the broker acknowledged."""
        if not self._replayed and not self._replay():
            return
        self._store_waiting()
        self._record_acknowledged()

    def close(self, wait_s: float = STOP_ACK_WAIT_S) -> None:
        """A last step, and the broker's acknowledgements awaited a little, then recorded."""
        self.flush()
        deadline = time.monotonic() + wait_s
        while self._unacked and time.monotonic() < deadline:
            if all(d is None or d.is_published() for _, d in self._unacked):
                break
            time.sleep(0.02)
        self._record_acknowledged()
        if self._unstored or self._unacked:
            log.warning(
                "stopping with %d alert(s) not stored (raised again at start if still "
                "true) and %d not acknowledged (published again at start)",
                len(self._unstored),
                len(self._unacked),
            )

    def _failed(self, what: str, exc: StoreError) -> None:
        self.health.last_error = f"{what}: {exc}"
        log.error("%s: %s", what, exc)

    def _replay(self) -> bool:
        since = dt.datetime.fromtimestamp(self.clock() - PUBLISH_HORIZON_S, dt.UTC)
        try:
            found = stored_alerts(read_unpublished_alerts(self.store, since))
        except StoreError as exc:
            self.health.store_failures += 1
            self._failed("stored alerts not read, publishing waits (retried every tick)", exc)
            return False
        self._replayed = True
        if found:
            log.warning(
                "%d stored alert(s) not recorded as published (a process stopped "
                "between storing and recording them): publishing them",
                len(found),
            )
            self.health.republished += len(found)
            self._publish(found)
        return True

    def _store_waiting(self) -> None:
        if not self._unstored:
            return
        alerts = self._unstored
        try:
            self.store.write_alerts(alert_rows(alerts))
            known = read_published_ids(self.store, [a.alert_id for a in alerts])
        except StoreError as exc:
            self.health.store_failures += 1
            self._failed(
                f"{len(alerts)} alert(s) not stored, not published (retried every tick)", exc
            )
            return
        self._unstored = []
        if self.health.last_error:
            self.health.last_error = ""
            log.info("alerts stored again")
        self._publish([a for a in alerts if a.alert_id not in known])

    def _publish(self, alerts: list[Alert]) -> None:
        for alert in alerts:
            log.info(
                "alert %s %s at %s",
                alert.kind,
                alert.subject,
                dt.datetime.fromtimestamp(alert.at, self.tz).isoformat(),
            )
            delivery = None
            if self.publish is not None:
                topic = alert_topic(alert.kind, alert.subject)
                delivery = self.publish(topic, json.dumps(alert.to_json(self.tz)).encode())
            for listener in self.listeners:
                listener(alert)
            self._unacked.append((alert.alert_id, delivery))
        self.health.published += len(alerts)

    def _record_acknowledged(self) -> None:
        done = [x for x in self._unacked if x[1] is None or x[1].is_published()]
        if not done:
            return
        try:
            self.store.write_published([alert_id for alert_id, _ in done])
        except StoreError as exc:
            self.health.record_failures += 1
            self._failed(f"{len(done)} published alert(s) not recorded (retried every tick)", exc)
            return
        recorded = {id(d) for d in done}
        self._unacked = [x for x in self._unacked if id(x) not in recorded]
