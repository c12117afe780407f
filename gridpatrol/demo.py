"""``gridpatrol demo``: a broker, serve and the simulated town, in one command.

Starts Mosquitto on a free port, ``serve`` with the shipped Zhangjiawo grids and devices
(live alerts on event time, so the simulated day raises them), and the fleet simulator at a
speed-up. Prints what happens; Ctrl-C (or ``--duration``) stops everything cleanly.
"""

from __future__ import annotations

import importlib.resources
import logging
import shutil
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import polars as pl
from rich.console import Console
from rich.live import Live
from rich.table import Table

from api.tokens import add_token
from base.devicefile import read_devices_csv
from geofence.config import GeofenceSettings
from gridpatrol.broker import Mosquitto, PythonBroker, find_mosquitto, free_port
from gridpatrol.compose import IngestProcess
from gridpatrol.fleet808 import Fleet808, Router, jt808_devices, terminal_rows
from gridpatrol.roles import ServeOptions
from gridpatrol.simulate import SimDevice, plan_messages, publish_plan
from ingest.config import IngestSettings
from ingest.jt808.config import Jt808Settings
from ingest.jt808.gateway import GatewayThread
from ingest.jt808.registry import Registry
from patrol.config import LiveSettings
from patrol.grids import read_grids
from tracks.alerts import count_alerts
from tracks.queries import read_stats
from tracks.store import Store
from tracks.terminals import parse_terminals, store_terminals

DEMO_PORT = 8080


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@dataclass(frozen=True)
class DemoOptions:
    workdir: Path
    duration_s: float | None
    speedup: float
    seed: int
    hours: float
    trackers: str = "mqtt"  # or jt808: through a JT/T 808 gateway beside serve


def demo_files() -> tuple[Path, Path]:
    data = importlib.resources.files("gridpatrol") / "data"
    return Path(str(data / "zhangjiawo.geojson")), Path(str(data / "zhangjiawo-devices.csv"))


def read_sim_devices(path: Path) -> list[SimDevice]:
    frame = read_devices_csv(path)  # text ids (base/devicefile.py)
    return [SimDevice(r["device_id"], r["kind"], r["grid_id"]) for r in frame.iter_rows(named=True)]


def _status(service: IngestProcess, sim_clock: list[float], sent: list[int]) -> Table:
    table = Table(title="gridpatrol demo: Zhangjiawo, 76 grids, 70 devices")
    table.add_column("what")
    table.add_column("now", justify="right")
    stats = read_stats(service.store)
    assert service.live is not None
    live = service.live.snapshot()
    sim = time.strftime("%H:%M", time.localtime(sim_clock[0])) if sim_clock[0] else "-"
    rejected = stats["rejected"]
    assert isinstance(rejected, dict)
    for name, value in [
        ("simulated time (local)", sim),
        ("messages published", sent[0]),
        ("pings stored", stats["stored"]),
        ("duplicates dropped", stats["duplicates"]),
        ("rejected", sum(rejected.values())),
        ("grids overdue now", len(live.overdue)),
        ("devices offline now", len(live.offline)),
        ("alerts raised", count_alerts(service.store)),
    ]:
        table.add_row(name, str(value))
    return table


def run_demo(options: DemoOptions) -> int:
    console = Console()
    grids, devices = demo_files()
    workdir = options.workdir
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    logging.getLogger().setLevel(logging.WARNING)  # the status table says what happens
    broker: Mosquitto | PythonBroker
    if find_mosquitto() is not None:
        broker = Mosquitto().start()
        console.print(f"broker: Mosquitto on {broker.url} (config {broker.config})")
    else:
        broker = PythonBroker().start()
        console.print(
            f"broker: mosquitto is not on PATH, so the in-process Python broker "
            f"(amqtt, MQTT 3.1.1) on {broker.url}"
        )
    ingest = IngestSettings(
        broker=broker.url,
        client_id=f"demo-{uuid.uuid4().hex[:6]}",
        max_age_s=2 * 86400.0,
        protocol=broker.protocol,
    )
    live_settings = LiveSettings(live_clock="event", offline_after_s=900.0)
    sim_devices = read_sim_devices(devices)
    if options.trackers == "jt808":  # serve registers the trackers under their JT/T 808 ids
        sim_devices = jt808_devices(sim_devices)
        frame = read_devices_csv(devices)
        devices = workdir / "devices-jt808.csv"
        frame.with_columns(device_id=pl.Series([d.device_id for d in sim_devices])).write_csv(
            devices
        )
    db = workdir / "demo.db"
    tokens = workdir / "tokens.jsonl"
    _, token = add_token(tokens, "admin", [], "demo")
    port = DEMO_PORT if _port_free(DEMO_PORT) else free_port()
    serve_options = ServeOptions(
        db=db, grids=grids, devices=devices, http=f"127.0.0.1:{port}", tokens=tokens
    )
    service = IngestProcess(serve_options, ingest, GeofenceSettings(), live=live_settings)
    serve_thread = threading.Thread(target=service.run, name="serve", daemon=True)
    serve_thread.start()
    service.mqtt.connected.wait(10)
    grid_set = read_grids(service.store)
    assert grid_set is not None
    real_start = time.time()
    sim_start = real_start - options.hours * 3600
    stop_at = real_start + (options.duration_s or options.hours * 3600 / options.speedup)
    plan = plan_messages(
        grid_set, sim_devices, seed=options.seed, start=sim_start, hours=options.hours
    )
    sim_clock = [0.0]
    sent = [0]
    stop = threading.Event()

    def progress(at: float) -> None:
        sim_clock[0] = at
        sent[0] += 1

    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion

    protocol = paho.MQTTv5 if broker.protocol == "5" else paho.MQTTv311
    publisher = paho.Client(CallbackAPIVersion.VERSION2, client_id="demo-fleet", protocol=protocol)
    publisher.max_inflight_messages_set(1000)
    publisher.connect("127.0.0.1", broker.port)
    publisher.loop_start()
    client: object = publisher
    gateway = fleet = None
    if options.trackers == "jt808":  # the gateway's registry: the simulated trackers
        terminals_csv = workdir / "terminals.csv"
        pl.DataFrame(terminal_rows(sim_devices)).write_csv(terminals_csv)
        registry = Registry(Store(workdir / "jt808.db"))
        store_terminals(registry.store, parse_terminals(terminals_csv), "the demo's trackers")
        registry.swap(registry.read())
        gateway = GatewayThread(
            Jt808Settings(
                listen="127.0.0.1:0",
                broker=broker.url,
                protocol=broker.protocol,
                client_id="demo-jt808",
            ),
            registry,
        )
        port808 = gateway.start().port
        fleet = Fleet808("127.0.0.1", port808, sim_start)
        client = Router(publisher, fleet, {d.device_id for d in sim_devices if d.kind == "tracker"})
        console.print(f"JT/T 808 gateway on 127.0.0.1:{port808}: the 30 trackers report through it")

    def simulate() -> None:
        publish_plan(
            client,
            plan,
            sim_start=sim_start,
            real_start=real_start,
            speedup=options.speedup,
            stop_at=stop_at,
            on_progress=progress,
        )
        stop.set()

    threading.Thread(target=simulate, name="fleet", daemon=True).start()
    console.print(f"database: {db}   speed-up: {options.speedup:g}x   Ctrl-C stops")
    console.print(f"live map: [bold]http://127.0.0.1:{port}/[/bold]   token (admin):")
    console.print(token, markup=False, highlight=False)
    try:
        with Live(_status(service, sim_clock, sent), console=console, refresh_per_second=1) as live:
            while not stop.wait(1.0):
                live.update(_status(service, sim_clock, sent))
            live.update(_status(service, sim_clock, sent))
    except KeyboardInterrupt:
        console.print("stopping...")
    finally:
        stop_at = 0.0
        if fleet is not None and gateway is not None:
            fleet.stop()
            gateway.stop()
            gateway.registry.store.close()
        publisher.disconnect()
        publisher.loop_stop()
        time.sleep(0.5)
        service.stop()
        serve_thread.join(30)
        broker.cleanup()
    console.print(f"stopped cleanly; the database stays in {db}. Try:")
    console.print(
        f"  .venv/bin/gridpatrol report compliance --db {db} "
        f"--start {time.strftime('%Y-%m-%dT%H:%M:%S+00:00', time.gmtime(sim_start))} "
        f"--end {time.strftime('%Y-%m-%dT%H:%M:%S+00:00', time.gmtime(real_start))}"
    )
    return 0
