"""``-t screens``: a wall of screens on one serve, with pings flowing at district size.

One serve (role ``all``: ingest, live state, the API; in this process, pinned to core 0)
on the generated city (1,652 grids), 2,000 registered devices each sending a fix every 10 s
(200 pings/s through Mosquitto, from a publisher process pinned to core 1). For each count
of screens N (1 to 1,000), a load process pinned to core 1 (``python -m bench.screens
screens``, asyncio on raw sockets, its CPU time measured apart) holds N live streams (GET
/api/v1/devices/stream) while Debian's ``hey`` (pinned to core 1 too) asks the full GET
/grids and GET /devices once per screen, as each map does when it opens, then the polls of
N maps every 5 minutes (both lists: N x 2 / 300 s).

Before the first count, one GET /grids: serve's first reads and encodes every geometry, once
(about 1.5 s at 1,652 grids), which the first map after a start waits for.

Latency is from a fix's commit (serve's commit hook, this process's clock) to the arrival
of the event carrying it at each screen (the load process's clock: the same machine), for
every fix and every screen; a count of screens is carried when its p99 is under 300 ms.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from bench.data import CITY, town_grid_file
from bench.result import Result

if TYPE_CHECKING:
    from gridpatrol.broker import Mosquitto

DEVICES = 2000
PERIOD_S = 10.0  # each device's fix interval: 200 pings/s in all
LADDER = (1, 10, 100, 300, 1000)
HOLD_S = 20.0  # seconds each count of screens is measured
GOAL_MS = 300.0
POLL_EVERY_S = 300.0  # the map's full lists while its stream reads
SERVE_CORE, LOAD_CORE = 0, 1


def scenario(workdir: Path, smoke: bool) -> list[Result]:
    from gridpatrol.broker import Mosquitto

    folder = workdir / "screens"
    folder.mkdir(parents=True, exist_ok=True)
    grids, devices, where = _town(folder)
    ladder = (1, 5) if smoke else LADDER
    hold = 3.0 if smoke else HOLD_S
    broker = Mosquitto().start()
    try:
        return _run(broker, folder, grids, devices, where, ladder, hold)
    finally:
        broker.stop()


def _town(folder: Path) -> tuple[Path, Path, Path]:
    """The city's grids, the registry (each device in a grid), each device's spot."""
    import shapely

    grids = town_grid_file(CITY, folder)
    leaves = [f for f in json.loads(grids.read_text())["features"]]
    rows, spots = ["device_id,kind,worker,grid_id"], []
    for i in range(DEVICES):
        leaf = leaves[i % len(leaves)]
        rows.append(f"dev-{i:04d},tracker,Worker {i},{leaf['properties']['id']}")
        point = shapely.geometry.shape(leaf["geometry"]).point_on_surface()
        spots.append([point.x, point.y])
    devices = folder / "devices.csv"
    devices.write_text("\n".join(rows) + "\n")
    where = folder / "spots.json"
    where.write_text(json.dumps(spots))
    return grids, devices, where


def _run(
    broker: Mosquitto,
    folder: Path,
    grids: Path,
    devices: Path,
    where: Path,
    ladder: tuple[int, ...],
    hold: float,
) -> list[Result]:
    from api.config import ApiSettings
    from geofence.config import GeofenceSettings
    from gridpatrol.broker import free_port
    from gridpatrol.compose import IngestProcess
    from gridpatrol.roles import ServeOptions
    from ingest.config import IngestSettings
    from ingest.prepare import PreparedBatch
    from patrol.updater import CommittedBatch

    db = folder / f"screens-{uuid.uuid4().hex[:6]}.db"
    port = free_port()
    os.sched_setaffinity(0, {SERVE_CORE})  # serve and every thread it starts: core 0
    service = IngestProcess(
        ServeOptions(db=db, grids=grids, devices=devices, http=f"127.0.0.1:{port}"),
        IngestSettings(broker=broker.url, client_id=f"screens-{uuid.uuid4().hex[:6]}"),
        GeofenceSettings(),
        ApiSettings(sse_max_streams=max(ladder) + 10),
    )
    commits: dict[tuple[str, int], float] = {}
    inner = service.batcher.on_committed

    def record(batch: PreparedBatch) -> None:
        at = time.time()
        ids = batch.pings["device_id"].to_list()
        ms = (batch.pings["ts"].dt.epoch("us").to_numpy() // 1000).tolist()
        for device, t in zip(ids, ms, strict=True):
            commits[(device, t)] = at
        if inner is not None:
            inner(batch)

    service.batcher.on_committed = record
    applied: list[float] = []  # seconds from a batch's commit to live state holding it
    live = service.live
    assert live is not None
    apply = live.apply

    def timed_apply(batch: CommittedBatch) -> None:
        apply(batch)
        at = time.time()
        ids = batch.pings["device_id"].to_list()
        ms = (batch.pings["ts"].dt.epoch("us").to_numpy() // 1000).tolist()
        applied.extend(at - commits.get((d, t), at) for d, t in zip(ids, ms, strict=True))

    live.apply = timed_apply  # type: ignore[method-assign]
    thread = threading.Thread(target=service.run, daemon=True)
    thread.start()
    assert service.http is not None
    url = f"http://127.0.0.1:{port}"
    try:
        while not service.http.started():
            time.sleep(0.05)
        total_s = len(ladder) * (hold + 60) + 60
        publisher = _pinned(
            [
                sys.executable,
                "-m",
                "bench.screens",
                "publish",
                str(broker.port),
                str(where),
                str(total_s),
            ]
        )
        time.sleep(PERIOD_S + 2)  # every device heard from: the lists are district size
        # serve's first GET /grids reads and encodes the 1,652 geometries (once, ~1.5 s)
        urllib.request.urlopen(url + "/api/v1/grids", timeout=60).read()
        results = []
        for n in ladder:
            applied.clear()
            results += _step(url, n, hold, commits)
            if applied:
                p99 = float(np.percentile(applied, 99)) * 1e3
                note = "ingest's commit hook to the live updater's apply, over the whole step (opening included)"
                results.append(
                    Result(
                        "screens", f"{n} screens: commit to live state p99", p99, "ms", note=note
                    )
                )
        publisher.kill()
        publisher.wait()
    finally:
        service.stop()
        thread.join(60)
        os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))
    return results


def _pinned(argv: list[str], **kwargs: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        ["taskset", "-c", str(LOAD_CORE), *argv],
        text=True,
        **kwargs,  # type: ignore[call-overload]
    )


def _hey(url: str, requests: int, concurrency: int, rate: float = 0.0) -> subprocess.Popen[str]:
    """Debian's hey on the load core: ``requests`` GETs, ``concurrency`` workers (a rate
    per worker when ``rate``)."""
    argv = [shutil.which("hey") or "/usr/bin/hey", "-n", str(requests), "-c", str(concurrency)]
    if rate:
        argv += ["-q", f"{rate:.3f}"]
    return _pinned([*argv, url], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _p99(hey_output: str) -> float:
    """hey's p99 in ms (its slowest when it ran too few requests for a 99th percentile)."""
    found = re.search(r"99% in ([0-9.]+) secs", hey_output) or re.search(
        r"Slowest:\s+([0-9.]+) secs", hey_output
    )
    return float(found.group(1)) * 1e3 if found else float("nan")


def _answered(hey_output: str) -> tuple[int, int]:
    """Requests hey got a 200 for, and those it did not (another status, or an error)."""
    ok = failed = 0
    for status, count in re.findall(r"\[(\d+)\]\s+(\d+) responses", hey_output):
        ok, failed = (ok + int(count), failed) if status == "200" else (ok, failed + int(count))
    errors = hey_output.partition("Error distribution:")[2]
    failed += sum(int(n) for n in re.findall(r"\[(\d+)\]\s", errors))
    return ok, failed


def _step(url: str, n: int, hold: float, commits: dict[tuple[str, int], float]) -> list[Result]:
    """N screens: open (streams, and hey's full lists), hold, measure."""
    screens = _pinned(
        [sys.executable, "-m", "bench.screens", "screens", url, str(n), str(hold)],
        stdout=subprocess.PIPE,
    )
    concurrency = min(n, 32)  # hey asks n // concurrency per worker
    opening = [
        _hey(url + "/api/v1/grids", n, concurrency),
        _hey(url + "/api/v1/devices", n, concurrency),
    ]
    open_out = [p.communicate()[0] for p in opening]
    polls = 2 * n * hold / POLL_EVERY_S
    steady = None
    if polls >= 1:
        steady = _hey(url + "/api/v1/devices", int(polls), 1, polls / hold)
    out, _ = screens.communicate()
    if steady is not None:
        steady.communicate()
    report = json.loads(out)
    latencies = _latencies(report, commits)
    p50, p99 = (np.percentile(latencies, [50, 99]) * 1e3) if latencies.size else (np.nan, np.nan)
    load_cpu = report["cpu_s"] / report["wall_s"]
    answered = [_answered(out) for out in open_out]
    ok, failed = sum(a[0] for a in answered), sum(a[1] for a in answered)
    note = (
        f"{report['opened']} streams open, {latencies.size:,} fix arrivals; open: GET /grids "
        f"p99 {_p99(open_out[0]):.0f} ms, GET /devices p99 {_p99(open_out[1]):.0f} ms (hey, "
        f"{concurrency} at once, {ok} answered 200, {failed} not); load process {100 * load_cpu:.0f} % of core "
        f"{LOAD_CORE}; {'carried' if p99 < GOAL_MS else 'NOT carried'} (p99 < {GOAL_MS:.0f} ms)"
    )
    return [
        Result("screens", f"{n} screens: commit to screen p50", float(p50), "ms", note=note),
        Result("screens", f"{n} screens: commit to screen p99", float(p99), "ms"),
    ]


def _latencies(report: dict[str, object], commits: dict[tuple[str, int], float]) -> np.ndarray:
    """Seconds from each fix's commit to its arrival, for every fix and every screen."""
    fixes = report["messages"]
    assert isinstance(fixes, list)
    committed = [
        np.array([commits.get((d, t), np.nan) for d, t in message], dtype=float)
        for message in fixes
    ]
    out = []
    arrivals = report["arrivals"]
    assert isinstance(arrivals, list)
    for index, at in arrivals:
        out.append(at - committed[index])
    values = np.concatenate(out) if out else np.empty(0)
    return values[np.isfinite(values)]


# ---- the load processes (python -m bench.screens publish|screens ...) ----


def publish(port: int, spots_file: Path, seconds: float) -> None:
    """Each device a fix every PERIOD_S (a few metres about its spot), its fix time the
    publish time, for ``seconds``."""
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion

    spots = json.loads(spots_file.read_text())
    client = paho.Client(
        CallbackAPIVersion.VERSION2, client_id="bench-screens", protocol=paho.MQTTv5
    )
    client.max_inflight_messages_set(2000)
    client.connect("127.0.0.1", port)
    client.loop_start()
    rate = DEVICES / PERIOD_S
    started = time.time()
    rng = np.random.default_rng(3)
    for i in range(int(rate * seconds)):
        due = started + i / rate
        now = time.time()
        if due > now:
            time.sleep(due - now)
        lon, lat = spots[i % DEVICES]
        dx, dy = rng.normal(0, 2e-5, 2)
        body = json.dumps({"ts": round(time.time(), 3), "lat": lat + dy, "lon": lon + dx})
        client.publish(f"gridpatrol/v1/ping/dev-{i % DEVICES:04d}", body, qos=1)
    client.disconnect()
    client.loop_stop()


async def _screen(
    port: int, messages: dict[bytes, int], arrivals: list[tuple[int, float]], opened: list[int]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=2**22)
    writer.write(
        f"GET /api/v1/devices/stream HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        "Accept: text/event-stream\r\n\r\n".encode()
    )
    await writer.drain()
    status = await reader.readline()
    if b" 200 " not in status:
        raise RuntimeError(f"stream refused: {status!r}")
    while (await reader.readline()) not in (b"\r\n", b""):
        pass
    opened[0] += 1
    try:
        while True:
            size = int((await reader.readline()).strip() or b"0", 16)
            if size == 0:
                return
            chunk = await reader.readexactly(size + 2)
            at = time.time()
            if chunk.startswith(b"event: "):  # one message of the feed: one chunk
                index = messages.setdefault(chunk, len(messages))
                arrivals.append((index, at))
    finally:
        writer.close()


def _fixes(message: bytes) -> list[tuple[str, int]]:
    """The (device, fix time in ms) of a message's positions event."""
    out = []
    for event in message.split(b"\n\n"):
        if event.startswith(b"event: positions\ndata: "):
            for d in json.loads(event[len(b"event: positions\ndata: ") :]):
                if d["last_seen"] is not None:
                    ms = round(dt.datetime.fromisoformat(d["last_seen"]).timestamp() * 1000)
                    out.append((d["device_id"], ms))
    return out


async def _screens(url: str, n: int, hold: float) -> dict[str, object]:
    port = int(url.rsplit(":", 1)[1])
    messages: dict[bytes, int] = {}
    arrivals: list[tuple[int, float]] = []
    opened = [0]
    tasks = []
    for _ in range(n):
        tasks.append(asyncio.create_task(_screen(port, messages, arrivals, opened)))
        await asyncio.sleep(0.002)  # a wall switched on: 500 a second
    while opened[0] < n and not all(t.done() for t in tasks):
        await asyncio.sleep(0.05)
    arrivals.clear()  # measured from every stream open
    cpu0, wall0 = time.process_time(), time.time()
    await asyncio.sleep(hold)
    cpu, wall = time.process_time() - cpu0, time.time() - wall0
    got = list(arrivals)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    by_index = {index: message for message, index in messages.items()}
    return {
        "opened": opened[0],
        "messages": [_fixes(by_index[i]) for i in range(len(by_index))],
        "arrivals": got,
        "cpu_s": cpu,
        "wall_s": wall,
    }


def main(argv: list[str]) -> int:
    if argv[0] == "publish":
        publish(int(argv[1]), Path(argv[2]), float(argv[3]))
    elif argv[0] == "screens":
        print(json.dumps(asyncio.run(_screens(argv[1], int(argv[2]), float(argv[3])))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
