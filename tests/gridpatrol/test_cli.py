"""The command line: reports from a real database, clear one-line errors."""

from __future__ import annotations

import datetime as dt
import json
import os
import stat
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from gridpatrol.broker import Mosquitto, free_port
from gridpatrol.cli import main
from tests.geofence.town import lonlat, three_in_a_row
from tests.mqtt_helpers import publish_all, wait_for
from tests.processes import Processes
from tracks.store import Store


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gridpatrol", *args], capture_output=True, text=True, timeout=120
    )


def test_bad_flag_and_bad_file_give_one_line_and_nonzero_exit(tmp_path):
    out = run("stats", "--db", str(tmp_path / "missing.db"))
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.strip() == f"gridpatrol: error: {tmp_path / 'missing.db'}: no such database"
    out = run("serve", "--db", str(tmp_path / "x.db"), "--broker", "http://nowhere")
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "mqtt://HOST:PORT" in out.stderr
    out = run("grids", "import", str(tmp_path / "none.geojson"), "--db", str(tmp_path / "x.db"))
    assert out.returncode == 2 and "cannot read" in out.stderr
    other = tmp_path / "other.db"
    subprocess.run(
        [sys.executable, "-c", f"import duckdb; duckdb.connect({str(other)!r})"], check=True
    )
    out = run("stats", "--db", str(other))
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.strip().endswith("is not a gridpatrol database (no schema_version)")


def test_grids_generate_has_stable_ids(tmp_path, capsys):
    assert (
        main(
            [
                "grids",
                "generate",
                "--bbox",
                "116.40,39.90,116.403,39.902",
                "--cell-m",
                "100",
                "--parent-every",
                "2",
            ]
        )
        == 0
    )
    fc = json.loads(capsys.readouterr().out)
    ids = [f["properties"]["id"] for f in fc["features"]]
    assert ids[:2] == ["P0C0", "P0C1"] and "R0C0" in ids and "R2C2" in ids
    assert len(ids) == 4 + 3 * 3


def test_report_compliance_json_from_the_database(tmp_path, capsys):
    grids = three_in_a_row(tmp_path / "grids.geojson")
    db = tmp_path / "gp.db"
    assert main(["grids", "import", str(grids), "--db", str(db)]) == 0
    tz = dt.timezone(dt.timedelta(hours=8))
    start = dt.datetime(2026, 11, 20, 8, 0, tzinfo=tz)
    lon, lat = lonlat(-100, 0)
    with Store(db) as store, store.transaction() as con:
        frame = pl.DataFrame(
            {
                "device_id": ["d1"],
                "ts": [start + dt.timedelta(minutes=10)],
                "lat": [lat],
                "lon": [lon],
            }
        )
        con.register("f", frame)
        con.execute(
            "INSERT INTO pings (device_id, ts, lat, lon, flags, received_at) "
            "SELECT device_id, ts, lat, lon, 0, ts FROM f"
        )
    capsys.readouterr()
    assert (
        main(
            [
                "report",
                "compliance",
                "--db",
                str(db),
                "--start",
                start.isoformat(),
                "--end",
                (start + dt.timedelta(hours=1)).isoformat(),
                "--grid",
                "A",
                "--format",
                "json",
            ]
        )
        == 0
    )
    rows = json.loads(capsys.readouterr().out)
    assert rows == [
        {
            "grid_id": "A",
            "visits": 1,
            "max_gap_s": 3000.0,
            "overdue_s": 1200.0,
            "compliance": round(1 - 1200 / 3600, 6),
            "violations": [["2026-11-20T08:40:00+08:00", "2026-11-20T09:00:00+08:00"]],
        }
    ]
    assert np.isfinite(rows[0]["compliance"])


@pytest.mark.broker
def test_the_database_and_its_log_are_readable_by_their_owner_only(
    broker: Mosquitto, processes: Processes, tmp_path: Path
):
    """Location history of every worker: created 0640 at most, under the usual umask 022
    (gridpatrol/cli.py, ``main``), the DuckDB file and its write-ahead log alike."""
    db = tmp_path / "town.db"
    serve = processes.popen(
        [
            sys.executable,
            "-m",
            "gridpatrol",
            "serve",
            "--db",
            str(db),
            "--broker",
            broker.url,
            "--client-id",
            f"perm-{uuid.uuid4().hex[:6]}",
            "--http",
            f"127.0.0.1:{free_port()}",
        ],
        stderr=subprocess.DEVNULL,
        preexec_fn=lambda: os.umask(0o022),
    )
    wal = db.with_name(db.name + ".wal")
    publish_all(
        broker, [("gridpatrol/v1/ping/perm-1", b'{"ts": %f, "lat": 1, "lon": 1}' % time.time())]
    )
    wait_for(lambda: serve.poll() is not None or (db.exists() and wal.exists()), what="the log")
    assert serve.poll() is None
    for path in (db, wal):
        assert stat.S_IMODE(path.stat().st_mode) & 0o037 == 0, (
            f"{path.name}: {path.stat().st_mode:o}"
        )
    processes.end_all()
    grids = three_in_a_row(tmp_path / "grids.geojson")
    out = run("grids", "import", str(grids), "--db", str(tmp_path / "other.db"))
    assert out.returncode == 0, out.stderr
    assert stat.S_IMODE((tmp_path / "other.db").stat().st_mode) & 0o037 == 0
