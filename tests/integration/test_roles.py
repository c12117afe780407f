"""Three ingest workers on a shared subscription, a stage and a standby on one lake (real
Mosquitto, real PostgreSQL, real DuckDB), beside one single-file serve receiving the same
messages: after the stage's maintenance every ping is stored once, the counters add up, and
every report equals the single file's."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from pathlib import Path

import pytest

from conftest import Lake
from geofence.grids import load_grids
from gridpatrol.broker import Mosquitto
from gridpatrol.compose import IngestProcess
from gridpatrol.demo import demo_files, read_sim_devices
from gridpatrol.roles import ServeOptions
from gridpatrol.simulate import plan_messages
from ingest.config import IngestSettings
from tests.integration.lake_roles import (
    Serves,
    cli_json,
    file_args,
    lake_args,
    stop_all,
    wait_until_caught_up,
)
from tests.mqtt_helpers import publish_all, running, wait_for
from tracks.engines import open_store
from tracks.queries import read_stats

pytestmark = pytest.mark.broker

#: The shipped town's day scaled down to its first quarter hour (70 devices, about 5,500
#: messages): starting five processes and publishing to four subscribers take most of the
#: test's time on 2 cores.
HOURS = 0.25


def town_messages(start: float) -> list[tuple[str, bytes]]:
    """The town's messages, with every 25th published twice and the first three minutes of
    every tenth device held back and published last (a late batch)."""
    grids, devices = demo_files()
    plan = list(
        plan_messages(
            load_grids(grids), read_sim_devices(devices), seed=3, start=start, hours=HOURS
        )
    )
    late_devices = {m.topic for m in plan[::10]}
    late = [m for m in plan if m.topic in late_devices and m.at < start + 180]
    held = {id(m) for m in late}
    messages = [(m.topic, m.payload) for m in plan if id(m) not in held]
    messages += messages[::25]
    return messages + [(m.topic, m.payload) for m in late]


def test_workers_and_a_stage_store_what_one_serve_stores(
    broker: Mosquitto, lake: Lake, serves: Serves, tmp_path: Path, capsys
):
    grids, devices = demo_files()
    group = f"g{uuid.uuid4().hex[:6]}"
    # the speed check on (the default 40 m/s): flags are a function of each device's fixes,
    # so the lake's (workers' commits in any order, the stage's re-walks) equal the file's
    stage = serves(
        lake, broker, "stage", f"{group}-s0", "--grids", str(grids), "--devices", str(devices)
    )
    stage.wait_for_line("leading the stage")
    standby = serves(lake, broker, "stage", f"{group}-s1")
    workers = serves.workers(lake, broker, group, 3)
    file_db = tmp_path / "gp.db"
    single = IngestProcess(
        ServeOptions(db=file_db, grids=grids, devices=devices),
        IngestSettings(
            broker=broker.url, client_id=f"{group}-file", session_expiry_s=5, batch_age_ms=100
        ),
    )
    start = time.time() - 3 * 3600
    messages = town_messages(start)
    with running(single):
        publish_all(broker, messages, max_inflight=1000)
        with open_store(lake.db, lake.data_path, read_only=True) as reader:

            def same_received() -> bool:
                want = read_stats(single.store)["received"]
                return read_stats(reader)["received"] == want and single.batcher.pending() == 0

            wait_for(same_received, 60, what="the lake to receive what the file did")
        standby.wait_for_api()
        status, body = standby.health()
        assert status == 503 and body["stage"]["leading"] is False  # type: ignore[index]
        assert "standby" in str(body["problems"])
        wait_until_caught_up(stage)
        # a maintenance round (every second) after the last range: by then files merged
        metrics = wait_for(
            lambda: (m := stage.metrics()).get("gridpatrol_stage_files_merged_total", 0) > 0 and m,
            60,
            what="a maintenance round that merged files",
        )
    # stopped (flushed, committed) before the lake is compared; on a failure, the
    # fixture ends them
    stop_all([*workers, standby, stage])
    file_stats = cli_json(capsys, ["stats", *file_args(file_db), "--format", "json"])
    lake_stats = cli_json(capsys, ["stats", *lake_args(lake), "--format", "json"])
    assert lake_stats == file_stats
    assert file_stats["duplicates"] > len(messages) // 30  # type: ignore[index]
    with open_store(lake.db, lake.data_path, read_only=True) as reader:
        rows = (
            reader.cursor()
            .execute("SELECT count(*), count(DISTINCT (device_id, ts)) FROM pings")
            .fetchone()
        )
        assert rows is not None and rows[0] == rows[1] == file_stats["stored"]  # type: ignore[index]
        flags_sql = "SELECT device_id, ts, flags FROM pings ORDER BY device_id, ts"
        lake_flags = reader.cursor().execute(flags_sql).fetchall()
    with open_store(file_db, None, read_only=True) as file_reader:
        file_flags = file_reader.cursor().execute(flags_sql).fetchall()
    assert sum(1 for _, _, f in file_flags if f & 2) > 0  # the town's day has speed outliers
    assert lake_flags == file_flags
    tz = dt.timezone(dt.timedelta(hours=8))
    window = [
        "--start",
        dt.datetime.fromtimestamp(start, tz).isoformat(),
        "--end",
        dt.datetime.fromtimestamp(start + HOURS * 3600, tz).isoformat(),
    ]
    for kind in ("compliance", "coverage", "presence"):
        on_file = cli_json(
            capsys, ["report", kind, *file_args(file_db), *window, "--format", "json"]
        )
        on_lake = cli_json(capsys, ["report", kind, *lake_args(lake), *window, "--format", "json"])
        assert on_lake == on_file, kind
        assert on_file, kind
    assert metrics.get("gridpatrol_stage_leading") == 1, sorted(metrics)
    assert metrics["gridpatrol_stage_duplicates_dropped_total"] >= 0
    assert metrics["gridpatrol_stage_files_merged_total"] > 0
