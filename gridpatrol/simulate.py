"""A deterministic fleet like the seeds' town: e-bike trackers and phones on patrol loops.

:func:`plan_messages` is pure: the same grids, devices and seed give the same messages in
the same order. :func:`publish_plan` paces them onto a broker at a speed-up, with fix times
in simulated time that never lie ahead of the real clock.
"""

from __future__ import annotations

import heapq
import json
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import shapely

from base.topics import native_topic, owntracks_topic
from geofence.grids import GridSet

TRACKER_PERIOD_S = 5.0
LOOP_S = 1800.0  # a patrol loop takes about half an hour


@dataclass(frozen=True)
class SimDevice:
    device_id: str
    kind: str  # tracker or phone
    grid_id: str


class Publish(NamedTuple):
    at: float  # simulated send time, epoch seconds
    order: int  # tie-breaker: device index * 10^7 + sequence
    topic: str
    payload: bytes


def patrol_loop(
    grid: shapely.Geometry,
    neighbour: shapely.Geometry | None,
    rng: np.random.Generator,
    waypoints: int = 8,
) -> np.ndarray:
    """Waypoints (lon, lat) of a closed loop inside the grid; one may lie in a neighbour."""
    x0, y0, x1, y1 = shapely.bounds(grid)
    points: list[tuple[float, float]] = []
    while len(points) < waypoints:
        p = (rng.uniform(x0, x1), rng.uniform(y0, y1))
        if grid.contains(shapely.Point(p)):
            points.append(p)
    if neighbour is not None and rng.random() < 0.5:
        p = shapely.get_coordinates(shapely.point_on_surface(neighbour))[0]
        points[3] = (float(p[0]), float(p[1]))
    c = np.mean(points, axis=0)
    points.sort(key=lambda p: math.atan2(p[1] - c[1], p[0] - c[0]))
    return np.array([*points, points[0]])


def _position(loop: np.ndarray, cum: np.ndarray, dist: float) -> tuple[float, float, float]:
    """Position and heading at a distance along the loop (wrapping)."""
    d = dist % cum[-1]
    k = int(np.searchsorted(cum, d, side="right") - 1)
    k = min(k, len(loop) - 2)
    seg = cum[k + 1] - cum[k]
    f = (d - cum[k]) / seg if seg > 0 else 0.0
    a, b = loop[k], loop[k + 1]
    heading = math.degrees(math.atan2(b[0] - a[0], b[1] - a[1])) % 360
    return a[0] + f * (b[0] - a[0]), a[1] + f * (b[1] - a[1]), heading


def _device_messages(
    index: int, device: SimDevice, grid_set: GridSet, start: float, hours: float, seed: int
) -> Iterator[Publish]:
    rng = np.random.default_rng([seed, index])
    grid = grid_set.by_id[device.grid_id].geometry
    assert grid is not None
    others = [g.geometry for g in grid_set.leaves if g.id != device.grid_id and g.geometry]
    touching = [g for g in others if shapely.touches(grid, g) or shapely.intersects(grid, g)]
    loop = patrol_loop(grid, touching[0] if touching else None, rng)
    kx = 111_195.0 * math.cos(math.radians(loop[0, 1]))
    steps = np.hypot(np.diff(loop[:, 0]) * kx, np.diff(loop[:, 1]) * 111_195.0)
    cum = np.concatenate([[0.0], np.cumsum(steps)])
    speed = cum[-1] / LOOP_S
    tracker = device.kind == "tracker"
    # slacking, by worker: 0 leaves the grid, 1 stands still, 2 switches the device off
    slack = index % 7
    slack_from = start + 3600 * (2 + index % 5)
    slack_to = slack_from + 3600 * 1.25
    home = (loop[0, 0] + 0.03, loop[0, 1] + 0.02)
    end = start + hours * 3600
    t = start + rng.uniform(0, 30)
    dist = rng.uniform(0, cum[-1])
    seq = 0
    queued: list[dict[str, object]] = []
    dead_until = -1.0
    while t < end:
        period = TRACKER_PERIOD_S if tracker else float(rng.uniform(10, 30))
        t_next = t + period
        moving = not (slack == 1 and slack_from <= t < slack_to)
        if moving:
            dist += speed * period
        if slack == 2 and slack_from <= t < slack_to:
            t = t_next
            continue
        lon, lat, hdg = _position(loop, cum, dist)
        if slack == 0 and slack_from <= t < slack_to:
            lon, lat = home
        acc = float(rng.uniform(3, 10) if tracker else rng.uniform(5, 60))
        lon += rng.normal(0, acc / 2) / kx
        lat += rng.normal(0, acc / 2) / 111_195.0
        if not tracker and rng.random() < 0.003:  # a GPS jump of kilometres
            lat += rng.choice([-1, 1]) * rng.uniform(0.02, 0.05)
        if tracker:
            fix: dict[str, object] = {
                "ts": round(t, 3),
                "lat": round(lat, 7),
                "lon": round(lon, 7),
                "acc": round(acc, 1),
                "spd": round(speed if moving else 0.0, 2),
                "hdg": round(hdg, 1),
                "bat": max(5, 100 - int((t - start) / 900)),
            }
            topic = native_topic(device.device_id)
            if index % 3 == 0:  # this tracker uploads a minute's fixes at once
                queued.append(fix)
                if len(queued) == 12:
                    seq += 1
                    yield Publish(t, index * 10**7 + seq, topic, json.dumps(queued).encode())
                    queued = []
            else:
                seq += 1
                yield Publish(t, index * 10**7 + seq, topic, json.dumps(fix).encode())
        else:
            user = device.device_id.split(".")[0]
            fix = {
                "_type": "location",
                "tid": user[-2:],
                "lat": round(lat, 7),
                "lon": round(lon, 7),
                "tst": int(t),
                "acc": int(acc),
                "vel": int(speed * 3.6 if moving else 0),
                "cog": int(hdg),
                "batt": max(5, 100 - int((t - start) / 600)),
            }
            topic = owntracks_topic(user, "phone")
            if index % 4 == 0 and dead_until < t and rng.random() < 0.002:
                dead_until = t + 600  # a dead zone: fixes queue up on the phone
            if t < dead_until:
                queued.append(fix)
                t = t_next
                continue
            for late in [*queued, fix]:
                seq += 1
                late["created_at"] = int(t)
                body = json.dumps(late).encode()
                yield Publish(t, index * 10**7 + seq, topic, body)
                if rng.random() < 0.01:  # the app sends the same message twice
                    seq += 1
                    yield Publish(t, index * 10**7 + seq, topic, body)
            queued = []
        t = t_next


def plan_messages(
    grid_set: GridSet, devices: list[SimDevice], *, seed: int, start: float, hours: float
) -> Iterator[Publish]:
    """Every message of the simulated day, in send order."""
    streams = [_device_messages(i, d, grid_set, start, hours, seed) for i, d in enumerate(devices)]
    return heapq.merge(*streams)


def publish_plan(
    client: object,
    plan: Iterator[Publish],
    *,
    sim_start: float,
    real_start: float,
    speedup: float,
    stop_at: float,
    on_progress: object = None,
) -> int:
    """Publish each message when its simulated time comes; returns how many were sent."""
    sent = 0
    for message in plan:
        due = real_start + (message.at - sim_start) / speedup
        now = time.time()
        if now >= stop_at:
            break
        if due > now:
            time.sleep(min(due - now, stop_at - now))
            if time.time() >= stop_at:
                break
        client.publish(message.topic, message.payload, qos=1)  # type: ignore[attr-defined]
        sent += 1
        if on_progress is not None:
            on_progress(message.at)  # type: ignore[operator]
    return sent
