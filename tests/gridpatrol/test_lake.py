"""serve, stats and reports on a DuckLake (real PostgreSQL, real Mosquitto); bad lake
configuration gives one line and exit 2."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import time
import uuid
from pathlib import Path

import pytest

from conftest import Lake
from gridpatrol.broker import Mosquitto, free_port
from gridpatrol.cli import main
from gridpatrol.compose import IngestProcess
from gridpatrol.postgres import PostgresCluster
from gridpatrol.roles import ServeOptions
from ingest.config import IngestSettings
from tests.geofence.town import lonlat, three_in_a_row
from tests.mqtt_helpers import publish_all, running, wait_for
from tests.tracks.test_reads import pings
from tracks.changefeed import Position, read_progress
from tracks.engines import open_store
from tracks.lake import LakeStore
from tracks.queries import read_stats
from tracks.schema import REJECTED

pytestmark = pytest.mark.broker


def service(
    broker: Mosquitto, db: str | Path, data_path: Path | None, grids: Path
) -> IngestProcess:
    settings = IngestSettings(
        broker=broker.url,
        client_id=f"test-lake-{uuid.uuid4().hex[:8]}",
        session_expiry_s=5,
        batch_age_ms=50,
    )
    return IngestProcess(ServeOptions(db=db, data_path=data_path, grids=grids), settings)


def test_serve_on_a_lake_stores_what_a_file_stores(broker, lake: Lake, tmp_path, capsys):
    """The same messages to serve on a file and serve on a lake, at the same time: stats and a
    compliance report read back from each agree."""
    grids = three_in_a_row(tmp_path / "grids.geojson")
    now = time.time()
    dev = f"bike-{uuid.uuid4().hex[:6]}"
    topic = f"gridpatrol/v1/ping/{dev}"
    # a ride from A through B to C, a fix every 20 s over 40 min; then a repeat and junk
    fixes = [(now - 2400 + 20 * i, *lonlat(-150 + 2.5 * i, 0)) for i in range(120)]
    messages = [
        (topic, json.dumps({"ts": t, "lon": lon, "lat": lat}).encode()) for t, lon, lat in fixes
    ]
    messages += [messages[5], (topic, b"not json")]
    file_db = tmp_path / "gp.db"
    on_file = service(broker, file_db, None, grids)
    on_lake = service(broker, lake.db, lake.data_path, grids)
    with running(on_file), running(on_lake):
        publish_all(broker, messages)
        for s in (on_file, on_lake):
            wait_for(lambda s=s: read_stats(s.store)["received"] == 122, what="122 pings")
        # unlike the file, the lake is read by another process's store while serve writes
        lake_args = ["--db", lake.db, "--data-path", str(lake.data_path)]
        assert main(["stats", *lake_args, "--format", "json"]) == 0
        assert json.loads(capsys.readouterr().out)["stored"] == 120
    assert list(lake.data_path.rglob("*.parquet")), "the lake wrote no Parquet file"
    tz = dt.timezone(dt.timedelta(hours=8))
    start = dt.datetime.fromtimestamp(now - 3600, tz).isoformat()
    end = dt.datetime.fromtimestamp(now, tz).isoformat()
    outputs = []
    for db_args in (["--db", str(file_db)], lake_args):
        assert main(["stats", *db_args, "--format", "json"]) == 0
        assert (
            main(
                [
                    "report",
                    "compliance",
                    *db_args,
                    "--start",
                    start,
                    "--end",
                    end,
                    "--format",
                    "json",
                ]
            )
            == 0
        )
        outputs.append(capsys.readouterr().out)
    assert outputs[0] == outputs[1]
    stats = json.loads(outputs[0].splitlines()[0])
    assert stats == {
        "received": 122,
        "stored": 120,
        "duplicates": 1,
        "rejected": {"malformed_json": 1},
    }
    report = json.loads("\n".join(outputs[0].splitlines()[1:]))
    assert {row["grid_id"] for row in report} >= {"A", "B", "C"}


def error_of(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("gridpatrol: error: "), err
    return err


def make_lake(lake: Lake) -> None:
    open_store(lake.db, lake.data_path).close()


@pytest.mark.parametrize(
    "command",
    [
        ["stats"],
        [
            "report",
            "compliance",
            "--start",
            "2026-11-20T08:00+08:00",
            "--end",
            "2026-11-20T09:00+08:00",
        ],
        ["serve"],
    ],
    ids=["stats", "report", "serve"],
)
def test_unreachable_postgresql(command, tmp_path, capsys):
    db = f"ducklake:postgres:dbname=town host=127.0.0.1 port={free_port()} user=postgres"
    err = error_of([*command, "--db", db, "--data-path", str(tmp_path)], capsys)
    assert "Unable to connect to Postgres" in err and "Connection refused" in err


def test_bad_attach_string(postgres: PostgresCluster, tmp_path, capsys):
    db = f"ducklake:postgres:dbname=town host=127.0.0.1 port={postgres.port} user=postgres junk"
    err = error_of(["stats", "--db", db, "--data-path", str(tmp_path)], capsys)
    assert 'missing "=" after "junk"' in err
    err = error_of(["stats", "--db", "ducklake:sqlite:x.db", "--data-path", str(tmp_path)], capsys)
    assert "must be ducklake:postgres:" in err


def test_a_password_is_never_printed(postgres: PostgresCluster, tmp_path, capsys):
    db = f"ducklake:postgres:dbname=town host=127.0.0.1 port={free_port()} password=s3cret"
    err = error_of(["stats", "--db", db, "--data-path", str(tmp_path)], capsys)
    assert "s3cret" not in err and "password=***" in err


def test_data_path_missing_or_other_than_the_catalogs(lake: Lake, tmp_path, capsys):
    make_lake(lake)
    err = error_of(
        [
            "grids",
            "import",
            str(three_in_a_row(tmp_path / "g.geojson")),
            "--db",
            lake.db,
            "--data-path",
            str(tmp_path / "elsewhere"),
        ],
        capsys,
    )
    assert "does not match existing data path in the catalog" in err
    err = error_of(["devices", "import", str(tmp_path / "d.csv"), "--db", lake.db], capsys)
    assert "needs --data-path" in err
    err = error_of(["stats", "--db", str(tmp_path / "gp.db"), "--data-path", "x"], capsys)
    assert "--data-path is for a DuckLake" in err


def test_a_catalog_of_a_newer_format_is_refused(postgres, lake: Lake, capsys):
    make_lake(lake)
    postgres.sql(lake.database, "UPDATE ducklake_metadata SET value = '9.9' WHERE key = 'version'")
    lake_args = ["--db", lake.db, "--data-path", str(lake.data_path)]
    for command in (["stats"], ["lake", "migrate"]):
        err = error_of([*command, *lake_args], capsys)
        assert "its catalog is DuckLake format 9.9, newer than this gridpatrol" in err
        assert "upgrade gridpatrol" in err and "migrate --db" not in err


#: A lake written by gridpatrol on DuckDB 1.4.4 (DuckLake format 0.3): ``fill`` of
#: tests/tracks/test_reads.py, then one stage range recorded (gridpatrol at 930923e). Its
#: catalog as pg_dump wrote it, with the data path replaced by @DATA_PATH@; its Parquet files.
LAKE_0_3 = Path(__file__).parent / "lake-0.3"


def test_a_lake_of_duckdb_1_4_is_refused_then_migrated(postgres, lake: Lake, capsys):
    """A format 0.3 lake: every command refuses it in one line naming the migrate command;
    ``lake migrate`` brings it to format 1.0 once; then its rows, their row ids (the stage's
    feed position) and the stage's progress are as 1.4.4 left them, and new rows follow."""
    shutil.copytree(LAKE_0_3 / "data", lake.data_path)
    catalog = (LAKE_0_3 / "catalog.sql").read_text().replace("@DATA_PATH@", str(lake.data_path))
    postgres.load(lake.database, catalog)
    lake_args = ["--db", lake.db, "--data-path", str(lake.data_path)]
    for command in (["stats"], ["serve", "--role", "stage"]):
        err = error_of([*command, *lake_args], capsys)
        assert "its catalog is DuckLake format 0.3 (gridpatrol on DuckDB 1.4)" in err, err
        assert f"gridpatrol lake migrate --db '{lake.db}' --data-path {lake.data_path}" in err
    assert main(["lake", "migrate", *lake_args]) == 0
    assert capsys.readouterr().out == "migrated the lake from DuckLake format 0.3 to 1.0\n"
    assert main(["lake", "migrate", *lake_args]) == 0
    assert "format 1.0 already: nothing to do" in capsys.readouterr().out
    with open_store(lake.db, lake.data_path) as store:
        assert isinstance(store, LakeStore) and store.format_version() == "1.0"
        assert read_stats(store)["stored"] == 4
        assert read_progress(store) == Position(19, 3, -1)
        store.write_batch(pings([("q", 40, 117.0, 39.0, 0, None)]), REJECTED.empty(), {})
        rows = store.cursor().execute("SELECT rowid, device_id FROM pings ORDER BY rowid")
        assert rows.fetchall() == [(0, "a"), (1, "a"), (2, "a"), (3, "z"), (4, "q")]


def test_a_lake_of_a_newer_gridpatrol_is_refused(lake: Lake, capsys):
    with open_store(lake.db, lake.data_path) as store, store.transaction() as con:
        con.execute("INSERT INTO schema_version VALUES (99)")
    err = error_of(["stats", "--db", lake.db, "--data-path", str(lake.data_path)], capsys)
    assert "schema version 99, newer than this gridpatrol" in err


def test_reading_a_lake_never_created(lake: Lake, capsys):
    """stats and report open read-only: they never create a lake in an empty database."""
    err = error_of(["stats", "--db", lake.db, "--data-path", str(lake.data_path)], capsys)
    assert "does not exist" in err and not lake.data_path.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--role", "ingest"], "--role ingest needs a DuckLake --db"),
        (["--role", "stage"], "--role stage needs a DuckLake --db"),
        (["--lake-commit-retries", "3"], "--lake-commit-retries is 0 or more, for a DuckLake"),
    ],
    ids=["ingest-on-a-file", "stage-on-a-file", "lake-retries-on-a-file"],
)
def test_a_role_on_a_file_is_refused(args, message, tmp_path, capsys):
    err = error_of(["serve", "--db", str(tmp_path / "gp.db"), *args], capsys)
    assert message in err


def test_role_options_that_do_not_fit(lake: Lake, tmp_path, capsys):
    lake_args = ["--db", lake.db, "--data-path", str(lake.data_path)]
    grids = str(three_in_a_row(tmp_path / "g.geojson"))
    err = error_of(["serve", "--role", "ingest", *lake_args, "--grids", grids], capsys)
    assert "--role ingest imports nothing" in err
    err = error_of(["serve", "--role", "api", *lake_args], capsys)
    assert "--role api serves the API: give --http" in err
    err = error_of(["serve", "--role", "ingest", *lake_args, "--lake-commit-retries", "-1"], capsys)
    assert "--lake-commit-retries is 0 or more" in err
