"""The simulator is deterministic for a seed, and behaves like the seeds' town."""

from __future__ import annotations

import itertools
import json

from geofence.grids import load_grids
from gridpatrol.demo import demo_files, read_sim_devices
from gridpatrol.simulate import plan_messages

START = 1_763_596_800.0  # a fixed day


def first(seed: int, count: int = 4000) -> list[tuple[float, str, bytes]]:
    grids, devices = demo_files()
    grid_set = load_grids(grids)
    plan = plan_messages(grid_set, read_sim_devices(devices), seed=seed, start=START, hours=1.0)
    return [(m.at, m.topic, m.payload) for m in itertools.islice(plan, count)]


def test_same_seed_same_messages_in_the_same_order():
    a, b = first(1), first(1)
    assert a == b
    assert a != first(2)
    times = [t for t, _, _ in a]
    assert times == sorted(times)


def test_the_fleet_mixes_trackers_batches_and_owntracks_phones():
    messages = first(1, 20000)
    native = [p for _, t, p in messages if t.startswith("gridpatrol/v1/ping/")]
    phones = [json.loads(p) for _, t, p in messages if t.startswith("owntracks/")]
    assert any(p.startswith(b"[") and len(json.loads(p)) == 12 for p in native)
    assert phones and all(p["_type"] == "location" and 5 <= p["acc"] <= 60 for p in phones)
    topics = {t for _, t, _ in messages}
    assert len(topics) == 70  # 30 trackers and 40 phones
    assert max(t for t, _, _ in messages) <= START + 3600
