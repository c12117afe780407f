"""The named scenarios. Each returns rows: what was measured, beside its reference."""

from __future__ import annotations

import datetime as dt
import json
import math
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import shapely

from bench import lake_roles, positions, screens
from bench.data import CITY, TOWN, Town, build_day_db, town_grid_file, voronoi_grid_file
from bench.result import Result
from geofence.assign import assign
from geofence.config import GeofenceSettings
from geofence.grids import load_grids
from geofence.reports import compute_report
from ingest.decode import Decoder
from ingest.validate import find_bad_pings
from patrol.config import LiveSettings
from patrol.fixes import load_fixes
from patrol.grids import read_grids
from patrol.reports import assigned_grids
from tracks.store import Store


@dataclass(frozen=True)
class Context:
    n: int
    smoke: bool
    workdir: Path
    plots: dict[str, object]


def best_of(
    fn: Callable[[], object], repeat: int = 3, clock: Callable[[], float] = time.perf_counter
) -> float:
    fn()  # warm-up: JIT compilation and caches are not measured
    times = []
    for _ in range(repeat):
        t0 = clock()
        fn()
        times.append(clock() - t0)
    return min(times)


def _payloads(n: int) -> list[tuple[str, bytes]]:
    now = time.time()
    return [
        (
            f"gridpatrol/v1/ping/bike-{i % 70:02d}",
            json.dumps(
                {
                    "ts": now - i * 0.01,
                    "lat": 39.06 + i * 1e-7,
                    "lon": 117.16,
                    "acc": 5.0,
                    "spd": 4.2,
                    "bat": 80,
                }
            ).encode(),
        )
        for i in range(n)
    ]


def _plain_python_decode(messages: list[tuple[str, bytes]]) -> list[tuple[object, ...]]:
    rows: list[tuple[object, ...]] = []
    for topic, payload in messages:
        obj = json.loads(payload)
        if not isinstance(obj, dict):
            continue
        lat, lon, ts = obj.get("lat"), obj.get("lon"), obj.get("ts")
        if not all(isinstance(v, int | float) for v in (lat, lon, ts)):
            continue
        rows.append((topic.rsplit("/", 1)[1], ts, lat, lon, obj.get("acc"), obj.get("spd")))
    return rows


def decode(ctx: Context) -> list[Result]:
    messages = _payloads(ctx.n)
    decoder = Decoder(max_payload_bytes=262144, max_batch_items=1000)
    ours = best_of(lambda: decoder.decode(messages))
    ref = best_of(lambda: _plain_python_decode(messages))
    return [
        Result(
            "decode",
            f"{ctx.n} single-ping messages",
            ctx.n / ours,
            "pings/s",
            "json.loads + plain Python checks",
            ctx.n / ref,
        )
    ]


def validate(ctx: Context) -> list[Result]:
    rng = np.random.default_rng(1)
    n = ctx.n
    now = time.time()
    ts = now - rng.uniform(0, 86400, n)
    lat, lon = rng.uniform(-95, 95, n), rng.uniform(-185, 185, n)
    received = np.full(n, now)

    def ours() -> object:
        return find_bad_pings(
            ts=ts,
            lat=lat,
            lon=lon,
            received_at=received,
            known_device=None,
            max_future_s=600.0,
            max_age_s=7 * 86400.0,
        )

    def plain() -> object:
        out = []
        for t, a, o in zip(ts.tolist(), lat.tolist(), lon.tolist(), strict=True):
            bad = abs(a) > 90 or abs(o) > 180 or (a == 0 and o == 0) or t > now + 600
            out.append(bad or t < now - 7 * 86400)
        return out

    return [
        Result(
            "validate",
            f"{n} pings",
            n / best_of(ours),
            "pings/s",
            "plain Python loop",
            n / best_of(plain),
        )
    ]


def _first_covering(tree: shapely.STRtree, points: np.ndarray) -> np.ndarray:
    """Shapely's answer to assign's question: the first-listed grid covering each point."""
    point, grid = tree.query(points, predicate="covered_by")
    first = np.full(len(points), -1)
    order = np.lexsort((grid, point))
    point, grid = point[order], grid[order]
    at = np.unique(point, return_index=True)[1]
    first[point[at]] = grid[at]
    return first


def _assign_case(path: Path, kind: str, ctx: Context) -> list[Result]:
    grid_set = load_grids(path)
    rng = np.random.default_rng(2)
    b = grid_set.bbox
    n = ctx.n
    lon = rng.uniform(b[:, 0].min(), b[:, 2].max(), n)
    lat = rng.uniform(b[:, 1].min(), b[:, 3].max(), n)
    tree = shapely.STRtree([grid_set.by_id[i].geometry for i in grid_set.ids])

    def reference() -> object:
        return tree.query(shapely.points(lon, lat), predicate="within")

    # rounds of many short runs of ours and one long one of shapely, interleaved so both see
    # the same load from other processes, each timed by its thread's CPU clock (both run on
    # the calling thread): on shared cores a long run is descheduled more often than a short
    # one, which wall time would charge to shapely alone
    ours = ref = math.inf
    for _ in range(3):
        ours = min(ours, best_of(lambda: assign(grid_set, lon, lat), 4, time.thread_time))
        ref = min(ref, best_of(reference, 1, time.thread_time))
    wrong = int(
        np.sum(assign(grid_set, lon, lat) != _first_covering(tree, shapely.points(lon, lat)))
    )
    dest = np.empty((2, n))

    def copy_both() -> None:
        np.copyto(dest[0], lon)
        np.copyto(dest[1], lat)

    copy = best_of(copy_both)
    case = f"{len(grid_set.ids)} {kind} grids, {n} points"
    return [
        Result(
            "assign",
            case,
            n / ours,
            "points/s",
            "shapely points() + STRtree within",
            n / ref,
            note=f"one core, thread CPU time; {wrong} wrong (vs shapely's first covering)",
        ),
        Result(
            "assign",
            case + ": memory copy of lon+lat",
            n / copy,
            "points/s",
            note=f"{16 * n / copy / 1e9:.1f} GB/s copy bandwidth",
        ),
    ]


def assign_scenario(ctx: Context) -> list[Result]:
    """The bench's towns (Voronoi cells of spaced seeds in a disc: 76 and 1,652 grids) and a
    second district of 1,652 Voronoi grids of unspaced seeds in a square (bench.data)."""
    rows = _assign_case(town_grid_file(TOWN, ctx.workdir), "irregular", ctx)
    if not ctx.smoke:
        rows += _assign_case(town_grid_file(CITY, ctx.workdir), "irregular", ctx)
        rows += _assign_case(voronoi_grid_file(ctx.workdir), "square-Voronoi", ctx)
    return rows


def _report_case(kind: str, town: Town, ctx: Context) -> list[Result]:
    tz = ZoneInfo("Asia/Shanghai")
    day = dt.datetime(2026, 11, 20, 8, 0, tzinfo=tz)
    if ctx.smoke:
        town = Town(town.name + "-smoke", town.grids, 5, town.radius_m, hours=1.0)
    db, _, rows = build_day_db(town, ctx.workdir, day.timestamp())
    settings = GeofenceSettings()
    end = day + dt.timedelta(hours=town.hours)
    with Store(db, read_only=True) as store:
        grid_set = read_grids(store)
        assert grid_set is not None
        assigned = assigned_grids(store)

        def run() -> object:
            fixes = load_fixes(grid_set, store, day, end)
            return compute_report(kind, grid_set, fixes, day, end, settings, assigned)

        seconds = best_of(run, repeat=2)
        load = best_of(lambda: load_fixes(grid_set, store, day, end), repeat=1)
    case = f"{town.grids} grids, {town.devices} devices, {rows} pings, from the DuckDB file"
    return [Result(kind, case, seconds, "s", note=f"of which reading fixes {load:.2f} s")]


def coverage(ctx: Context) -> list[Result]:
    return _report_case("coverage", TOWN, ctx)


def compliance(ctx: Context) -> list[Result]:
    return _report_case("compliance", TOWN, ctx)


def coverage_city(ctx: Context) -> list[Result]:
    return _report_case("coverage", CITY, ctx)


def compliance_city(ctx: Context) -> list[Result]:
    return _report_case("compliance", CITY, ctx)


def store(ctx: Context) -> list[Result]:
    from geofence.flags import FixFlagger
    from ingest.config import IngestSettings
    from ingest.message import Message
    from ingest.prepare import Preparer
    from tracks.writer import PingWriter

    results = []
    sizes = [200, 1000] if ctx.smoke else [500, 2000, 5000, 20000]
    folder = Path(tempfile.mkdtemp(dir=ctx.workdir))
    for size in sizes:
        db = folder / f"store-{size}.db"
        with Store(db) as st:
            settings = IngestSettings()
            preparer = Preparer(settings)
            writer = PingWriter(st, FixFlagger(settings.max_acc_m, settings.max_speed_mps))
            now = time.time()
            batches = [
                preparer.prepare(
                    [
                        Message(
                            f"gridpatrol/v1/ping/d{i % 50}",
                            json.dumps(
                                {"ts": now - 3600 + b + i * 1e-4, "lat": 39.06, "lon": 117.16}
                            ).encode(),
                            now,
                        )
                        for i in range(size)
                    ]
                )
                for b in range(max(3, ctx.n // size // 20))
            ]
            t0 = time.perf_counter()
            for batch in batches:  # flags are set in the write, as ingest's commit sets them
                writer.write(batch.pings, batch.rejected, batch.counters, batch.events)
            rate = size * len(batches) / (time.perf_counter() - t0)
            rows = [(f"x{i}", now - i, 39.06, 117.16, 0, now) for i in range(min(size, 500))]
            t0 = time.perf_counter()
            with st.transaction() as con:
                con.executemany(
                    "INSERT INTO pings (device_id, ts, lat, lon, flags, received_at) "
                    "VALUES (?, to_timestamp(?), ?, ?, ?, to_timestamp(?))",
                    rows,
                )
            ref = len(rows) / (time.perf_counter() - t0)
        results.append(
            Result(
                "store",
                f"batch of {size} pings, one transaction",
                rate,
                "pings/s",
                "row-by-row executemany",
                ref,
            )
        )
    ctx.plots["store"] = [(r.case, r.value) for r in results]
    return results


def e2e(ctx: Context) -> list[Result]:
    from bench.e2e import _payload_files, bare_paho_rate, ingest_rate, steady_latency
    from gridpatrol.broker import Mosquitto

    results = []
    folder = Path(tempfile.mkdtemp(dir=ctx.workdir))
    broker = Mosquitto(persistence=False).start()
    try:
        messages = max(400, ctx.n // 10 if ctx.smoke else min(ctx.n, 200_000))
        start = time.time() - 5 * 86400
        single = _payload_files(folder, messages, 1, start)
        ceiling = bare_paho_rate(broker, single, messages)
        rate, stored = ingest_rate(broker, folder / "single.db", single, messages)
        results.append(
            Result(
                "e2e",
                f"{messages} messages of 1 ping, QoS 1",
                rate,
                "pings/s",
                "bare paho subscriber (msgs/s)",
                ceiling,
                note=f"stored {stored}, lost {messages - stored}",
            )
        )
        sweep = []
        for per in [10, 50] if ctx.smoke else [10, 50, 200]:
            count = max(PUB_MIN, messages // per * (1 if ctx.smoke else 4))
            files = _payload_files(folder, count, per, start + 86400 * per / 200)
            rate, stored = ingest_rate(broker, folder / f"batched-{per}.db", files, count * per)
            sweep.append((per, rate))
            ceiling_b = bare_paho_rate(broker, files, count)
            results.append(
                Result(
                    "e2e",
                    f"{count} messages of {per} pings, QoS 1",
                    rate,
                    "pings/s",
                    "bare paho subscriber (msgs/s x pings/msg)",
                    ceiling_b * per,
                    note=f"stored {stored}, lost {count * per - stored}",
                )
            )
        ctx.plots["batch"] = [(1, results[0].value), *sweep]
        seconds = 3.0 if ctx.smoke else 20.0
        latencies, sent, stored = steady_latency(broker, folder / "steady.db", 5000.0, seconds)
        ctx.plots["latency"] = latencies
        results.append(
            Result(
                "e2e",
                "publish-to-commit latency p50 at 5,000 pings/s",
                float(np.percentile(latencies, 50)) * 1e3,
                "ms",
                note=f"sent {sent}, stored {stored}",
            )
        )
        results.append(
            Result(
                "e2e",
                "publish-to-commit latency p99 at 5,000 pings/s",
                float(np.percentile(latencies, 99)) * 1e3,
                "ms",
            )
        )
    finally:
        broker.cleanup()
    return results


PUB_MIN = 40


def flood(ctx: Context) -> list[Result]:
    from bench.flood import PER_MESSAGE
    from bench.flood import flood as run_flood

    folder = Path(tempfile.mkdtemp(dir=ctx.workdir))
    burst = 400 if ctx.smoke else 8000
    r = run_flood(folder, burst, 2.0 if ctx.smoke else 20.0)
    case = (
        f"serve's peak RSS, publishers at {r.rate:,.0f} pings/s ({r.rate / r.sustainable:.1f}x "
        f"the sustainable {r.sustainable:,.0f}) for {r.seconds:.0f} s, {PER_MESSAGE}/msg"
    )
    return [
        Result(
            "flood",
            case,
            r.peak_rss_mb,
            "MB",
            "serve idle",
            r.idle_rss_mb,
            note=f"sent {r.sent}, stored {r.stored}, lost {r.lost}; "
            f"backlog drained {r.drained_s:.1f} s after the flood began",
        )
    ]


SCENARIOS: dict[str, Callable[[Context], list[Result]]] = {
    "decode": decode,
    "validate": validate,
    "assign": assign_scenario,
    "coverage": coverage,
    "compliance": compliance,
    "coverage-city": coverage_city,
    "compliance-city": compliance_city,
    "store": store,
    "e2e": e2e,
    "flood": flood,
}
DEFAULT = ["decode", "validate", "assign", "coverage", "compliance", "store", "e2e", "flood"]


def api(ctx: Context) -> list[Result]:
    """GET /compliance for one day of the town through a real serve, beside the same rows
    computed in-process; and SSE delivery of an alert after the visit that raised it."""
    import shutil
    import threading

    import httpx
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion

    from geofence.config import GeofenceSettings
    from gridpatrol.broker import Mosquitto, free_port
    from gridpatrol.compose import IngestProcess
    from gridpatrol.roles import ServeOptions
    from ingest.config import IngestSettings

    tz = ZoneInfo("Asia/Shanghai")
    day = dt.datetime(2026, 11, 20, 0, 0, tzinfo=tz)
    town = TOWN if not ctx.smoke else Town("town-smoke", TOWN.grids, 5, TOWN.radius_m, hours=1.0)
    source, _, rows = build_day_db(town, ctx.workdir, (day + dt.timedelta(hours=8)).timestamp())
    db = Path(tempfile.mkdtemp(dir=ctx.workdir)) / "api.db"
    shutil.copy(source, db)
    broker = Mosquitto(persistence=False).start()
    port = free_port()
    settings = IngestSettings(
        broker=broker.url, client_id="bench-api", session_expiry_s=10, batch_age_ms=20
    )
    ahead = [0.0]  # the live clock runs this far ahead of the wall clock
    service = IngestProcess(
        ServeOptions(db=db, http=f"127.0.0.1:{port}"),
        settings,
        GeofenceSettings(),
        live=LiveSettings(tick_s=0.05),
        clock=lambda: time.time() + ahead[0],
    )
    thread = threading.Thread(target=service.run, daemon=True)
    thread.start()
    results = []
    try:
        service.mqtt.connected.wait(10)
        assert service.http is not None
        while not service.http.started():
            time.sleep(0.05)
        url = f"http://127.0.0.1:{port}/api/v1/compliance"
        params = {"start": day.isoformat(), "end": (day + dt.timedelta(days=1)).isoformat()}
        http = best_of(lambda: httpx.get(url, params=params, timeout=60).raise_for_status(), 5)
        assert service.grid_set is not None
        grid_set = service.grid_set
        assigned = assigned_grids(service.store)

        def direct() -> object:
            fixes = load_fixes(grid_set, service.store, day, day + dt.timedelta(days=1))
            return compute_report(
                "compliance",
                grid_set,
                fixes,
                day,
                day + dt.timedelta(days=1),
                GeofenceSettings(),
                assigned,
            )

        ref = best_of(direct, 5)
        results.append(
            Result(
                "api",
                f"GET /compliance, one day, {town.grids} grids, {rows} pings",
                http * 1e3,
                "ms",
                "same rows computed in-process (ms)",
                ref * 1e3,
                note="goal < 300 ms",
            )
        )
        # SSE: a grid overdue now; a ping inside it clears it; time until the client has it
        live = service.live
        assert live is not None
        got = threading.Event()
        delays: list[float] = []
        sent_at = [0.0]

        def listen() -> None:
            with httpx.stream(
                "GET", f"http://127.0.0.1:{port}/api/v1/alerts/stream", timeout=30
            ) as response:
                for line in response.iter_lines():
                    if line.startswith("data: ") and '"cleared"' in line and sent_at[0]:
                        delays.append(time.time() - sent_at[0])
                        got.set()
                        return

        listener = threading.Thread(target=listen, daemon=True)
        listener.start()
        time.sleep(0.5)
        g = 0
        ahead[0] = 7200.0  # two hours on: every grid is overdue
        while grid_set.ids[g] not in live.snapshot().overdue:
            time.sleep(0.05)
        ahead[0] = 0.0  # back to now, when the visit below is recent
        geom = grid_set.by_id[grid_set.ids[g]].geometry
        p = shapely.get_coordinates(shapely.point_on_surface(geom))[0]
        pub = paho.Client(CallbackAPIVersion.VERSION2, client_id="bench-sse", protocol=paho.MQTTv5)
        pub.connect("127.0.0.1", broker.port)
        pub.loop_start()
        sent_at[0] = time.time()
        body = json.dumps({"ts": sent_at[0], "lat": float(p[1]), "lon": float(p[0])})
        pub.publish("gridpatrol/v1/ping/bench-sse", body, qos=1)
        got.wait(10)
        pub.disconnect()
        pub.loop_stop()
        results.append(
            Result(
                "api",
                "SSE: publish of a visit to the 'cleared' alert at the client",
                delays[0] * 1e3 if delays else math.nan,
                "ms",
                note="goal < 1000 ms",
            )
        )
    finally:
        service.stop()
        thread.join(30)
        broker.cleanup()
    return results


SCENARIOS["api"] = api
DEFAULT.append("api")

#: Parent areas of the grids-api city: 1,652 leaves and 17 parents, 1,669 grids in all.
CITY_AREAS = 17


def grids_api(ctx: Context) -> list[Result]:
    """GET /api/v1/grids in-process (FastAPI's test client, no socket) for the generated city
    of 1,652 leaves under 17 parents, with live state: half the leaves visited, none overdue."""
    import warnings

    with warnings.catch_warnings():  # starlette 1.x prefers httpx2 for its test client
        warnings.simplefilter("ignore", DeprecationWarning)
        from fastapi.testclient import TestClient

    from api.app import create_app
    from api.config import ApiSettings
    from api.context import ApiContext
    from geofence.generate import irregular_town
    from geofence.grids import check_grids
    from patrol.grids import read_grids, save_grids
    from patrol.updater import LiveUpdater

    town = TOWN if ctx.smoke else CITY
    areas = 4 if ctx.smoke else CITY_AREAS
    path = ctx.workdir / f"{town.name}-{town.grids}-{areas}areas.geojson"
    if not path.exists():
        fc = irregular_town(
            117.16,
            39.06,
            grids=town.grids,
            areas=areas,
            radius_m=town.radius_m,
            seed=7,
            service_hours=None,
        )
        path.write_text(json.dumps(fc))
    folder = Path(tempfile.mkdtemp(dir=ctx.workdir))
    with Store(folder / "grids.db") as store:
        save_grids(store, check_grids(path)[0])
        grid_set = read_grids(store)
        assert grid_set is not None
        now = time.time()
        live = LiveUpdater(grid_set, GeofenceSettings(), store, clock=lambda: now)
        visited = np.arange(0, len(grid_set.ids), 2, dtype=np.int32)
        b = grid_set.bbox[visited]
        live.state.apply_fixes(
            [f"dev-{g}" for g in visited],
            np.full(len(visited), now - 60.0),
            (b[:, 0] + b[:, 2]) / 2,
            (b[:, 1] + b[:, 3]) / 2,
            visited,
        )
        context = ApiContext(
            store=store,
            grid_set=grid_set,
            live=live,
            geofence=GeofenceSettings(),
            settings=ApiSettings(),
            tokens=None,
        )
        # without tokens the API answers a loopback Host only (api/middleware.py)
        with TestClient(create_app(context), base_url="http://127.0.0.1") as client:

            def get() -> object:
                response = client.get("/api/v1/grids")
                assert response.status_code == 200, response.text
                return response

            seconds = best_of(get, repeat=5)
    case = f"GET /grids in-process, {len(grid_set.grids)} grids ({len(grid_set.ids)} leaves)"
    return [Result("grids-api", case, seconds * 1e3, "ms", note="goal < 50 ms")]


SCENARIOS["grids-api"] = grids_api
DEFAULT.append("grids-api")


def backlog(ctx: Context) -> list[Result]:
    """A district's backlog after an outage (1,652 grids, 500 devices, days of fixes),
    drained by serve with grids and the live updater, beside serve without grids."""
    from bench.backlog import DEVICES, district_backlog

    folder = Path(tempfile.mkdtemp(dir=ctx.workdir))
    pings = 60_000 if ctx.smoke else 5 * ctx.n
    with_grids, plain, published = district_backlog(folder, pings)
    days = published / DEVICES * 30 / 86400
    return [
        Result(
            "backlog",
            f"drain of {published:,} pings ({days:.1f} days of {DEVICES} devices,"
            " 60 per message, 1,652 grids) with grids, devices and live alerts",
            with_grids.rate,
            "pings/s",
            "the same backlog, serve without grids",
            plain.rate,
            note=f"stored {with_grids.stored}, lost {published - with_grids.stored}; "
            f"{with_grids.connects} connection(s); {with_grids.alerts} alerts; "
            f"peak backlog {with_grids.peak_backlog} messages; "
            f"drained in {with_grids.seconds:.1f} s",
        )
    ]


def duplicates(ctx: Context) -> list[Result]:
    """The duplicate check's cost per batch at growing table sizes (1 M, 10 M, 100 M)."""
    from bench.duplicates import measure

    folder = Path(tempfile.mkdtemp(dir=ctx.workdir))
    sizes = [20_000, 200_000] if ctx.smoke else [ctx.n, 10 * ctx.n, 100 * ctx.n]
    results = []
    for size in sizes:
        m = measure(folder, size)
        rows = f"{int(m['rows']):,} rows stored"
        ref = m["reference_s"] * 1e3
        for case, key in (
            ("fresh fixes", "fresh_s"),
            ("the same batch again", "repeated_s"),
            ("one device's late fixes", "late_s"),
        ):
            results.append(
                Result(
                    "duplicates",
                    f"{case}, {rows}",
                    m[key] * 1e3,
                    "ms/batch",
                    "old check of the fresh batch (ms)",
                    ref,
                    note=f"table built in {m['build_s']:.0f} s",
                )
            )
    return results


SCENARIOS["backlog"] = backlog
SCENARIOS["duplicates"] = duplicates


def jt808(ctx: Context) -> list[Result]:
    from bench.jt808 import PERIOD_S
    from bench.jt808 import run as run_jt808

    terminals = 50 if ctx.smoke else min(ctx.n, 10_000)
    r = run_jt808(terminals, 3.0 if ctx.smoke else 30.0, 2.0 if ctx.smoke else 15.0)
    every = f"{terminals:,} terminals, one 0x0200 each per {PERIOD_S:.0f} s"
    return [
        Result(
            "jt808",
            f"reports/s answered after PUBACK, {every}",
            r.steady_rate,
            "reports/s",
            note=f"goal {terminals / PERIOD_S:,.0f}/s",
        ),
        Result(
            "jt808",
            f"gateway CPU, {every}",
            r.steady_cpu * 100,
            "% of a core",
            note="goal <= 50 % with 10,000 terminals",
        ),
        Result("jt808", f"gateway RSS with {terminals:,} terminals connected", r.rss_mb, "MB"),
        Result(
            "jt808",
            f"reports/s, {terminals:,} terminals back to back",
            r.max_rate,
            "reports/s",
            "mosquitto_pub, same payloads, QoS 1 (msg/s)",
            r.ref_rate,
            note=f"gateway CPU {r.max_cpu * 100:.0f} % of a core (the terminals' process "
            f"{r.load_cpu * 100:.0f} %), mosquitto_pub {r.ref_cpu * 100:.0f} %",
        ),
    ]


SCENARIOS["jt808"] = jt808
DEFAULT.append("jt808")


def lake(ctx: Context) -> list[Result]:
    """The DuckLake store beside the DuckDB file: 40,000-ping writes, deriving a town day,
    and its compliance report from the derived data and from every ping."""
    from bench.lake import run_lake

    file, lake = run_lake(ctx.workdir, ctx.n, ctx.smoke, best_of)
    results = []
    for f in (lake, file):
        per = np.array(f.write_s)
        note = f"per batch median {np.median(per) * 1e3:.0f} ms, max {per.max() * 1e3:.0f} ms"
        case = f"write_batch of {f.batch_rows} pings x {f.batches}, {f.engine}"
        results.append(
            Result("lake", case, f.batch_rows * len(per) / per.sum(), "pings/s", note=note)
        )
        day = f"one town day ({f.day_pings} pings), {f.engine}"
        results.append(Result("lake", f"derive {day}", f.derive_s, "s"))
        results.append(Result("lake", f"compliance from the derived data, {day}", f.report_s, "s"))
        results.append(
            Result(
                "lake",
                f"compliance recomputed from pings, {day}",
                f.recompute_s,
                "s",
                note=f"of which reading fixes {f.load_s:.2f} s",
            )
        )
    for k in range(4):  # the lake's rows against the file's
        results[k].reference, results[k].ref_value = "DuckDB file", results[k + 4].value
    return results


SCENARIOS["lake"] = lake
DEFAULT.append("lake")
SCENARIOS["lake-roles"] = lambda ctx: lake_roles.scenario(ctx.workdir, ctx.n, ctx.smoke)


def district(ctx: Context) -> list[Result]:
    """A district's month (1,652 grids, 500 devices, 31 days): CLI and API reports."""
    from bench.district import run_district

    return run_district(ctx.workdir, ctx.n, ctx.smoke)


SCENARIOS["district"] = district
DEFAULT.append("district")


SCENARIOS["devices-api"] = lambda ctx: positions.scenario(ctx.workdir, ctx.n, ctx.smoke)
DEFAULT.append("devices-api")


def broker_durability(ctx: Context) -> list[Result]:
    """What a Mosquitto crash loses under each persistence setting, and what saving costs."""
    from bench.durability import scenario

    return scenario(ctx.n, ctx.smoke)


SCENARIOS["broker-durability"] = broker_durability


# a wall of screens on one serve (bench/screens.py)
SCENARIOS["screens"] = lambda ctx: screens.scenario(ctx.workdir, ctx.smoke)


def datums_scenario(ctx: Context) -> list[Result]:
    from bench.datums import scenario

    return scenario(ctx.workdir, ctx.n, ctx.smoke)


SCENARIOS["datums"] = datums_scenario
DEFAULT.append("datums")


def workers(ctx: Context) -> list[Result]:
    """Live worker alerts per tick: 2,000 workers on shift over the city's 1,652 grids."""
    from bench.workers import scenario

    return scenario(ctx.workdir, ctx.n, ctx.smoke)


SCENARIOS["workers"] = workers
DEFAULT.append("workers")


def due_soon(ctx: Context) -> list[Result]:
    """The prompt before lateness on a simulated day: overdue alerts preceded, and the lead."""
    from bench.due_soon import scenario

    return scenario(ctx.workdir, ctx.n, ctx.smoke)


SCENARIOS["due-soon"] = due_soon
DEFAULT.append("due-soon")
