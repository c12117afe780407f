"""Worker alerts through the real broker: a scripted day on the event clock raises and ends
each alert once, a restart neither raises an open one again nor loses it, and a backlog of
the day before drains without an alert about it.

Also a due_soon of A naming the nearest worker on shift, ended when A turns overdue; every
worker alert is published on MQTT once.

Grids: three_in_a_row (A is x -160..-40, C 40..160, y -60..60 m), 30 min intervals. Li Wei
(device d1) is rostered on A 08:00-12:00 on day D (two days ago) and on day D - 1; d9, on no
roster, reports when the script needs the event clock to move on.
"""

from __future__ import annotations

import datetime as dt
import json
import queue
import uuid
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from geofence.config import GeofenceSettings
from gridpatrol.broker import Mosquitto
from gridpatrol.compose import IngestProcess
from gridpatrol.roles import ServeOptions
from ingest.config import IngestSettings
from patrol.config import LiveSettings
from patrol.rosters import import_roster
from tests.geofence.town import lonlat, three_in_a_row
from tests.mqtt_helpers import connect, publish_all, running, subscribe, wait_for
from tracks.store import Store

pytestmark = pytest.mark.broker

TZ = ZoneInfo("Asia/Shanghai")
DAY = dt.datetime.now(TZ).date() - dt.timedelta(days=2)
BEFORE = DAY - dt.timedelta(days=1)
WORKER_KINDS = ("out_of_grid", "in_grid", "stationary", "moving")
WORKER_KINDS += ("absent", "arrived", "silent", "heard")


def at(hhmm: str, day: dt.date = DAY) -> float:
    h, m = (int(p) for p in hhmm.split(":"))
    return dt.datetime.combine(day, dt.time(h, m), TZ).timestamp()


def ping(device: str, t: float, x: float, y: float = 0.0) -> tuple[str, bytes]:
    lon, lat = lonlat(x, y)
    return f"gridpatrol/v1/ping/{device}", json.dumps({"ts": t, "lat": lat, "lon": lon}).encode()


#: Day D, one message at a time: (device, time, x, y) and the alerts it must bring.
SCRIPT = [
    ("d9", "08:06", 100.0, 0.0),  # absent since 08:05
    ("d1", "08:07", -150.0, 0.0),  # arrived
    ("d1", "08:10", 100.0, 0.0),  # in C, 140 m beyond A: out from 08:10
    ("d1", "08:21", 100.0, 0.0),  # out_of_grid since 08:20
    ("d1", "08:25", -100.0, 0.0),  # in_grid; standing from 08:25
    ("d1", "08:35", -100.0, 5.0),
    ("d1", "08:46", -100.0, 0.0),  # stationary since 08:45
    ("d1", "08:50", -60.0, 0.0),  # moving: 40 m
    ("d9", "09:06", 100.0, 0.0),  # silent since 09:05
    ("d1", "09:10", -100.0, 0.0),  # heard; A's last visit
    ("d1", "09:25", 0.0, 0.0),  # in B, 40 m from A (within the buffer); 15 min: no segment
    ("d9", "09:36", 100.0, 0.0),  # A due_soon since 09:35, naming d1 40 m away
    ("d9", "09:45", 100.0, 0.0),  # A overdue since 09:40 (due_soon ended); silent since 09:40
]
AFTER_RESTART = [("d9", "12:01", 100.0, 0.0)]  # the shift over: heard at 12:00


def serve(db: Path, ingest: IngestSettings, **options: object) -> IngestProcess:
    live = LiveSettings(live_clock="event", tick_s=0.1, offline_after_s=10 * 86400)
    return IngestProcess(ServeOptions(db=db, **options), ingest, GeofenceSettings(), live=live)  # type: ignore[arg-type]


def play(broker: Mosquitto, service: IngestProcess, script: list) -> None:
    """Each message once the one before is applied and two ticks ran after it."""
    live = service.live
    assert live is not None
    wait_for(lambda: not service._draining(), what="the backlog drained")
    for device, hhmm, x, y in script:
        t = at(hhmm)
        publish_all(broker, [ping(device, t, x, y)])
        wait_for(lambda t=t: live.snapshot().event_time >= t, what=f"{device} at {hhmm} applied")
        ticks = live.health.ticks
        wait_for(lambda ticks=ticks: live.health.ticks >= ticks + 2, what="two ticks")


def drain(received: queue.Queue[dict]) -> list[dict]:
    out = []
    while not received.empty():
        out.append(received.get())
    return out


def worker_alerts(store: Store) -> list[tuple[str, str, str]]:
    rows = (
        store.cursor()
        .execute(
            "SELECT kind, device_id, epoch(ts) FROM alerts WHERE kind IN "
            f"({','.join(repr(k) for k in WORKER_KINDS)}) ORDER BY raised_at, kind"
        )
        .fetchall()
    )
    return [
        (kind, device, dt.datetime.fromtimestamp(ts, TZ).strftime("%m-%d %H:%M"))
        for kind, device, ts in rows
    ]


def test_a_scripted_day_and_a_restart_raise_each_worker_alert_once(
    broker: Mosquitto, tmp_path: Path
):
    grids = three_in_a_row(tmp_path / "grids.geojson", interval_min=30)
    devices = tmp_path / "devices.csv"
    devices.write_text("device_id,kind,worker,grid_id\nd1,phone,Li Wei,A\nd9,phone,Pacer,C\n")
    roster = tmp_path / "roster.csv"
    roster.write_text(
        "worker,device_id,grid_id,date,shifts\n"
        f"Li Wei,d1,A,{BEFORE},08:00-12:00\nLi Wei,d1,A,{DAY},08:00-12:00\n"
    )
    db = tmp_path / "gp.db"
    ingest = IngestSettings(
        broker=broker.url,
        client_id=f"workers-{uuid.uuid4().hex[:6]}",
        session_expiry_s=600,
        batch_age_ms=50,
        batch_rows=2,
        max_age_s=5 * 86400,
    )
    with running(serve(db, ingest, grids=grids, devices=devices)):
        pass  # the persistent session now exists: the broker keeps what comes next
    with Store(db) as store:
        assert import_roster(store, roster) == 2
    # the day before, in C (out of A, absent) 08:00-08:30, then walking in A to 09:30
    backlog = [ping("d1", at(f"08:{m:02d}", BEFORE), 100.0) for m in range(0, 31, 5)]
    backlog += [
        ping("d1", at(f"{8 + m // 60:02d}:{m % 60:02d}", BEFORE), -150.0 + 35 * (m // 5 % 4))
        for m in range(35, 91, 5)
    ]
    publish_all(broker, backlog)
    heard: queue.Queue[dict] = queue.Queue()
    watcher = connect(broker)
    watcher.on_message = lambda c, u, m: heard.put(json.loads(m.payload))
    subscribe(watcher, "gridpatrol/v1/alerts/#")

    service = serve(db, ingest)
    assert service.live is not None
    with running(service):
        wait_for(
            lambda: service.live.snapshot().event_time >= at("09:30", BEFORE),  # type: ignore[union-attr]
            what="the backlog applied",
        )
        play(broker, service, SCRIPT)
        assert dict(service.live.snapshot().workers) == {"silent": {"d1": at("09:40")}}
    restarted = serve(db, ingest)
    assert restarted.live is not None
    assert dict(restarted.live.snapshot().workers) == {"silent": {"d1": at("09:40")}}
    with running(restarted):
        play(broker, restarted, AFTER_RESTART)
        assert dict(restarted.live.snapshot().workers) == {}
        stored = worker_alerts(restarted.store)
        due = restarted.store.read_rows(
            "SELECT kind, device_id, epoch(ts), detail FROM alerts "
            "WHERE grid_id = 'A' AND kind LIKE 'due_soon%' ORDER BY raised_at"
        )
    published: list[dict] = []

    def all_heard() -> bool:
        published.extend(drain(heard))
        return sum(m["kind"] in WORKER_KINDS for m in published) >= 10

    wait_for(all_heard, what="the worker alerts on MQTT")
    watcher.disconnect()
    day = DAY.strftime("%m-%d")
    due_soon = [(k, d, dt.datetime.fromtimestamp(t, TZ).strftime("%H:%M"), w) for k, d, t, w in due]
    assert due_soon == [
        ("due_soon", "d1", "09:35", "due in 5 min; nearest: Li Wei (d1) 40 m, ETA 1 min"),
        ("due_soon_ended", "d1", "09:40", "overdue"),
    ]
    on_mqtt = sorted(
        (m["kind"], m["device_id"], dt.datetime.fromisoformat(m["at"]).strftime("%m-%d %H:%M"))
        for m in published
        if m["kind"] in WORKER_KINDS
    )
    assert on_mqtt == sorted(stored)  # each published once
    assert stored == [
        ("absent", "d1", f"{day} 08:05"),
        ("arrived", "d1", f"{day} 08:07"),
        ("out_of_grid", "d1", f"{day} 08:20"),
        ("in_grid", "d1", f"{day} 08:25"),
        ("stationary", "d1", f"{day} 08:45"),
        ("moving", "d1", f"{day} 08:50"),
        ("silent", "d1", f"{day} 09:05"),
        ("heard", "d1", f"{day} 09:10"),
        ("silent", "d1", f"{day} 09:40"),
        ("heard", "d1", f"{day} 12:00"),
    ]
