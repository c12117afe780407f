"""The cost of datums at the doors: a batch of pings from GCJ-02 devices prepared (decoded,
validated, converted to WGS-84, placed in grids) beside the same batch from WGS-84 devices,
and the inverse conversion beside the forward formula it iterates."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from base.datum import Datum, from_wgs84, gcj02_to_wgs84, wgs84_to_gcj02
from bench.data import TOWN, town_grid_file
from bench.result import Result


def _best(fn: Callable[[], object], repeat: int = 5) -> float:
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def scenario(workdir: Path, n: int, smoke: bool) -> list[Result]:
    from geofence.assign import assign
    from geofence.grids import load_grids
    from ingest.config import IngestSettings
    from ingest.message import Message
    from ingest.prepare import Preparer

    grid_set = load_grids(town_grid_file(TOWN, workdir))
    size = 1_000 if smoke else 5_000
    rng = np.random.default_rng(1)
    lon = rng.uniform(117.14, 117.18, size)
    lat = rng.uniform(39.04, 39.08, size)
    g_lon, g_lat = from_wgs84(Datum.GCJ02, lon, lat)
    now = time.time()
    devices = [f"phone-{i:02d}" for i in range(70)]

    def messages(x: np.ndarray, y: np.ndarray) -> list[Message]:
        return [
            Message(
                f"gridpatrol/v1/ping/{devices[i % 70]}",
                json.dumps({"ts": now - 60 + i * 1e-3, "lat": y[i], "lon": x[i]}).encode(),
                now,
            )
            for i in range(size)
        ]

    settings = IngestSettings()

    def preparer(datums: dict[str, Datum]) -> Preparer:
        return Preparer(
            settings,
            assign=lambda a, b: assign(grid_set, a, b),
            grid_ids=grid_set.ids,
            datums=datums,
        )

    plain, shifted = preparer({}), preparer(dict.fromkeys(devices, Datum.GCJ02))
    wgs_batch, gcj_batch = messages(lon, lat), messages(g_lon, g_lat)
    ref = size / _best(lambda: plain.prepare(wgs_batch))
    rate = size / _best(lambda: shifted.prepare(gcj_batch))
    points = 100_000 if smoke else 1_000_000
    x = rng.uniform(73.5, 135.0, points)
    y = rng.uniform(18.0, 53.5, points)
    forward = points / _best(lambda: wgs84_to_gcj02(x, y))
    inverse = points / _best(lambda: gcj02_to_wgs84(x, y))
    return [
        Result(
            "datums",
            f"prepare {size} pings of 70 GCJ-02 devices (converted, placed in 76 grids)",
            rate,
            "pings/s",
            "the same batch from WGS-84 devices",
            ref,
        ),
        Result(
            "datums",
            f"GCJ-02 to WGS-84, {points:,} points over China (iterated to 1 mm)",
            inverse,
            "points/s",
            "the forward formula, WGS-84 to GCJ-02",
            forward,
        ),
    ]
