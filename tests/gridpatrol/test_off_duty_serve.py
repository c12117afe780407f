"""serve --off-duty drop through a real Mosquitto into a DuckDB file: a rostered device's fix
inside its shift is stored; one outside it is not, and is recorded as rejected ``off_duty``
with its payload not kept (a position off duty is kept nowhere). A device on no roster keeps
every fix."""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from pathlib import Path

import pytest

from api.config import ApiSettings
from gridpatrol.broker import Mosquitto
from gridpatrol.cli import main
from gridpatrol.compose import IngestProcess, ServeSettings, compose
from gridpatrol.roles import ServeOptions
from ingest.config import IngestSettings
from tests.geofence.town import lonlat
from tests.mqtt_helpers import publish_all, running, wait_for
from tests.patrol.day import TZ, build_day

pytestmark = pytest.mark.broker


def test_serve_drops_the_fixes_off_duty(broker: Mosquitto, tmp_path: Path):
    db, _ = build_day(tmp_path)  # grids A | B | C; d1 and d2 registered
    now = time.time()
    start = dt.datetime.fromtimestamp(now - 3600, TZ)
    end = dt.datetime.fromtimestamp(now + 3600, TZ)
    roster = tmp_path / "roster.csv"
    roster.write_text(
        "worker,device_id,grid_id,date,shifts\n"
        f"Li Wei,d1,A,{start.date()},{start:%H:%M}-{end:%H:%M}\n"
    )
    assert main(["roster", "import", str(roster), "--db", str(db)]) == 0
    lon, lat = lonlat(-100, 0)

    def ping(device: str, ts: float) -> tuple[str, bytes]:
        body = {"ts": ts, "lat": lat, "lon": lon, "acc": 5}
        return f"gridpatrol/v1/ping/{device}", json.dumps(body).encode()

    settings = ServeSettings(
        ingest=IngestSettings(broker=broker.url, client_id=f"od-{uuid.uuid4().hex[:6]}"),
        api=ApiSettings(off_duty="drop"),
    )
    service = compose(ServeOptions(db=db), settings)
    assert isinstance(service, IngestProcess)
    with running(service):
        store = service.store
        stored_before = store.read_one("SELECT count(*) FROM pings")
        assert stored_before is not None
        publish_all(
            broker,
            [ping("d1", now - 60), ping("d1", now - 3 * 3600), ping("d9", now - 3 * 3600)],
        )
        wait_for(
            lambda: store.read_one("SELECT count(*) FROM rejected") == (1,),
            what="the fix off duty recorded as rejected",
        )
        wait_for(
            lambda: store.read_one("SELECT count(*) FROM pings") == (stored_before[0] + 2,),
            what="the fix on duty and the unrostered device's fix stored",
        )
        assert store.read_rows(
            "SELECT reason, octet_length(payload), detail LIKE '%payload not kept%' FROM rejected"
        ) == [("off_duty", 0, True)]
        assert store.read_rows(
            "SELECT device_id, epoch(ts) FROM pings WHERE ts > now() - INTERVAL 1 DAY "
            "ORDER BY device_id"
        ) == [("d1", pytest.approx(now - 60)), ("d9", pytest.approx(now - 3 * 3600))]
