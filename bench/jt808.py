"""JT/T 808: N terminals reporting every 10 s through one gateway process into Mosquitto.

The gateway runs as its own process (``gridpatrol jt808``), as in production, so its CPU and
memory are read from /proc (psutil). The terminals run on an event loop in this process,
each connected, registered and authenticated, then reporting 0x0200 on a 10 s period spread
evenly over the fleet; a report counts when its 0x8001 answer arrives, which the gateway
sends only after the broker's PUBACK. A second phase has every terminal report back to
back: the most one gateway process passes. The reference is Debian's C ``mosquitto_pub``
publishing the same native payloads straight to the same broker (QoS 1), in the same run.
"""

from __future__ import annotations

import asyncio
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import psutil

from gridpatrol.broker import Mosquitto, free_port
from ingest.jt808 import messages as m
from ingest.jt808.terminal import Terminal
from tracks.store import Store
from tracks.terminals import store_terminals

PERIOD_S = 10.0
FIRST_PHONE = 13800000000


@dataclass(frozen=True)
class Jt808Result:
    terminals: int
    steady_rate: float  # reports/s answered at one report per terminal per 10 s
    steady_cpu: float  # the gateway's CPU over that window, fraction of one core
    rss_mb: float  # the gateway's RSS with every terminal connected
    max_rate: float  # reports/s answered with every terminal reporting back to back
    max_cpu: float  # the gateway's CPU then, fraction of one core
    load_cpu: float  # this process (the terminals) during the back-to-back phase, of one core
    ref_rate: float  # mosquitto_pub messages/s, same payloads, QoS 1
    ref_cpu: float  # mosquitto_pub's CPU, fraction of one core


def _registry(path: Path, terminals: int) -> None:
    """The gateway's registry: the bench's terminals (what ``terminals import`` writes)."""
    phones = [str(FIRST_PHONE + k) for k in range(terminals)]
    frame = pl.DataFrame({"phone": phones, "terminal_id": "", "plate": "", "device_id": phones})
    with Store(path) as store:
        store_terminals(store, frame, "bench")


def _start_gateway(broker: Mosquitto, port: int, http: int, db: Path) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gridpatrol",
            "--log-level",
            "ERROR",
            "jt808",
            "--listen",
            f"127.0.0.1:{port}",
            "--broker",
            broker.url,
            "--client-id",
            "bench-jt808",
            "--db",
            str(db),
            "--http",
            f"127.0.0.1:{http}",
        ],
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{http}/health", timeout=1) as r:
                if json.loads(r.read())["broker"]:
                    return process
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("the gateway did not become healthy in 30 s")


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


async def _fleet(
    port: int, terminals: int, steady_s: float, max_s: float, gateway: psutil.Process
) -> tuple[float, ...]:
    answered = [0]
    phase = ["steady"]
    base = float(int(time.time()) - 86400)
    gate = asyncio.Semaphore(200)  # connections being set up at once

    async def terminal(k: int) -> Terminal:
        async with gate:
            t = await Terminal(str(FIRST_PHONE + k).rjust(12, "0"), timeout_s=10.0).connect(
                "127.0.0.1", port
            )
            await t.authenticate(await t.register())
        return t

    fleet = await asyncio.gather(*(terminal(k) for k in range(terminals)))
    rss = gateway.memory_info().rss / 2**20

    async def report(k: int, t: Terminal) -> None:
        i = 0
        start = time.monotonic() + k * PERIOD_S / terminals
        while phase[0] != "stop":
            if phase[0] == "steady":
                await asyncio.sleep(max(0.0, start + i * PERIOD_S - time.monotonic()))
            body = m.build_location(39.06 + k * 1e-6, 117.16, base + i, speed=100, direction=90)
            i += 1
            if await t.result(m.LOCATION, body) == m.OK:
                answered[0] += 1

    tasks = [asyncio.create_task(report(k, t)) for k, t in enumerate(fleet)]
    await asyncio.sleep(PERIOD_S)  # every terminal has reported once: measure from here
    n0, c0, t0 = answered[0], _cpu(gateway), time.monotonic()
    await asyncio.sleep(steady_s)
    n1, c1, t1 = answered[0], _cpu(gateway), time.monotonic()
    phase[0] = "max"
    await asyncio.sleep(1.0)
    me = psutil.Process()
    n2, c2, t2, l2 = answered[0], _cpu(gateway), time.monotonic(), _cpu(me)
    await asyncio.sleep(max_s)
    n3, c3, t3, l3 = answered[0], _cpu(gateway), time.monotonic(), _cpu(me)
    phase[0] = "stop"
    await asyncio.gather(*tasks, return_exceptions=True)
    for t in fleet:
        await t.close()
    return (
        (n1 - n0) / (t1 - t0),
        (c1 - c0) / (t1 - t0),
        rss,
        (n3 - n2) / (t3 - t2),
        (c3 - c2) / (t3 - t2),
        (l3 - l2) / (t3 - t2),
    )


def _mosquitto_pub(broker: Mosquitto, count: int) -> tuple[float, float]:
    """Messages/s and CPU (fraction of one core) of mosquitto_pub sending ``count`` native
    payloads like the gateway's, QoS 1."""
    base = float(int(time.time()) - 86400)
    lines = b"".join(
        json.dumps(
            {"ts": base + i, "lat": 39.06, "lon": 117.16, "spd": 2.778, "hdg": 90, "alt": 0}
        ).encode()
        + b"\n"
        for i in range(count)
    )
    binary = shutil.which("mosquitto_pub") or "/usr/bin/mosquitto_pub"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(
        [binary, "-p", str(broker.port), "-q", "1", "-l", "-t", "gridpatrol/v1/ping/13800000000"],
        input=lines,
        check=True,
    )
    seconds = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return count / seconds, cpu / seconds


def run(terminals: int, steady_s: float, max_s: float) -> Jt808Result:
    broker = Mosquitto(persistence=False).start()
    port, http = free_port(), free_port()
    folder = tempfile.TemporaryDirectory()
    db = Path(folder.name) / "jt808.db"
    _registry(db, terminals)
    process = _start_gateway(broker, port, http, db)
    try:
        gateway = psutil.Process(process.pid)
        steady, steady_cpu, rss, top, top_cpu, load_cpu = asyncio.run(
            _fleet(port, terminals, steady_s, max_s, gateway)
        )
        ref_rate, ref_cpu = _mosquitto_pub(broker, max(2000, int(top * max_s)))
    finally:
        process.terminate()
        process.wait(30)
        broker.cleanup()
        folder.cleanup()
    return Jt808Result(
        terminals, steady, steady_cpu, rss, top, top_cpu, load_cpu, ref_rate, ref_cpu
    )
