"""Pings through a real Mosquitto into a real DuckDB file."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import pytest

from gridpatrol.broker import Mosquitto
from gridpatrol.compose import IngestProcess
from gridpatrol.roles import ServeOptions
from ingest.config import IngestSettings
from ingest.reasons import Reason
from ingest.schema import FLAG_POOR_ACCURACY, FLAG_SPEED_OUTLIER
from tests.mqtt_helpers import publish_all, running, wait_for
from tracks.queries import read_stats

pytestmark = pytest.mark.broker

LAT, LON = 39.06, 117.16


def make_service(broker: Mosquitto, db: Path, **overrides: object) -> IngestProcess:
    settings = IngestSettings(
        broker=broker.url,
        client_id=f"test-serve-{uuid.uuid4().hex[:8]}",
        session_expiry_s=5,
        batch_age_ms=50,
        **overrides,  # type: ignore[arg-type]
    )
    return IngestProcess(ServeOptions(db=db), settings)


def received(service: IngestProcess) -> int:
    return int(read_stats(service.store)["received"])  # type: ignore[arg-type]


def native(device: str, payload: object) -> tuple[str, bytes]:
    return f"gridpatrol/v1/ping/{device}", json.dumps(payload).encode()


def test_native_single_batched_owntracks_late_and_duplicates(broker: Mosquitto, tmp_path: Path):
    now = time.time()
    dev = f"bike-{uuid.uuid4().hex[:6]}"
    messages = [
        native(dev, {"ts": now - 10, "lat": LAT, "lon": LON, "acc": 5, "spd": 6.5, "bat": 80}),
        native(dev, [{"ts": now - 9 + i, "lat": LAT + i * 1e-5, "lon": LON} for i in range(5)]),
        # RFC 3339 with offset, and an id that matches the topic
        native(dev, {"ts": "2000-01-01T08:00:00+08:00", "lat": LAT, "lon": LON, "id": dev}),
        # a late fix from an hour ago arrives after newer ones
        native(dev, {"ts": now - 3600, "lat": LAT, "lon": LON}),
        # the same fix again: a duplicate
        native(dev, {"ts": now - 10, "lat": LAT, "lon": LON}),
        (
            "owntracks/wang/phone",
            json.dumps(
                {
                    "_type": "location",
                    "lat": LAT,
                    "lon": LON,
                    "tst": int(now) - 5,
                    "vel": 18,
                    "acc": 12,
                    "batt": 55,
                    "cog": 90,
                    "alt": 4,
                    "created_at": int(now),
                }
            ).encode(),
        ),
        ("owntracks/wang/phone", b'{"_type":"lwt","tst":1700000000}'),
        ("owntracks/wang/phone", b'{"_type":"card","name":"Wang"}'),
    ]
    # 2000-01-01 is far too old: keep the RFC 3339 case but allow its age
    service = make_service(broker, tmp_path / "gp.db", max_age_s=40 * 365 * 86400.0)
    with running(service):
        publish_all(broker, messages)
        wait_for(lambda: received(service) == 10, what="10 pings counted")
        stats = read_stats(service.store)
        cur = service.store.cursor()
        rows = cur.execute(
            "SELECT device_id, epoch(ts), spd, bat, acc, hdg, alt, epoch(sent_at) FROM pings "
            "ORDER BY device_id, ts"
        ).fetchall()
        events = cur.execute("SELECT device_id, event FROM device_events ORDER BY event").fetchall()
    assert stats["received"] == 10
    assert stats["stored"] == 9
    assert stats["duplicates"] == 1
    assert stats["rejected"] == {}
    assert stats["other"] == {"card": 1, "lwt": 1}
    assert events == [("wang.phone", "card"), ("wang.phone", "lwt")]
    bike = [r for r in rows if r[0] == dev]
    assert len(bike) == 8
    assert bike[0][1] == pytest.approx(946684800.0)  # 2000-01-01T00:00:00Z
    assert bike[1][1] == pytest.approx(now - 3600, abs=1e-5)
    assert bike[2][2] == pytest.approx(6.5) and bike[2][3] == pytest.approx(80)
    phone = [r for r in rows if r[0] == "wang.phone"]
    assert phone[0][2] == pytest.approx(5.0)  # 18 km/h
    assert phone[0][3:7] == (55, 12, 90, 4)
    assert phone[0][7] == int(now)


def rejection_cases(now: float) -> list[tuple[str, bytes, Reason]]:
    ok = {"ts": now, "lat": LAT, "lon": LON}

    def with_(**changes: object) -> bytes:
        return json.dumps({**ok, **changes}).encode()

    topic = "gridpatrol/v1/ping/reject-me"
    return [
        (topic, b'{"ts": 1, "lat": ', Reason.MALFORMED_JSON),
        (topic, b'{"ts": 1, "lat": "\xff\xfe"}', Reason.NOT_UTF8),
        (topic, b"[" + b",".join([with_()] * 10) + b"]" + b" " * 300_000, Reason.PAYLOAD_TOO_LARGE),
        (
            topic,
            json.dumps([{**ok, "ts": now - i} for i in range(1001)]).encode(),
            Reason.BATCH_TOO_LARGE,
        ),
        ("gridpatrol/v1/ping/bad device!", with_(), Reason.BAD_TOPIC),
        (topic, with_(lat="39.06"), Reason.WRONG_TYPE),
        (topic, b"42", Reason.WRONG_TYPE),
        (topic, b"[]", Reason.EMPTY_BATCH),
        (topic, json.dumps({"ts": now, "lat": LAT}).encode(), Reason.MISSING_FIELD),
        (
            "owntracks/li/phone",
            json.dumps({"_type": "location", "lat": LAT, "lon": LON}).encode(),
            Reason.MISSING_FIELD,
        ),
        (topic, with_().replace(b'"lat": 39.06', b'"lat": 1e999'), Reason.NON_FINITE),
        (topic, with_(lat=91.0), Reason.LAT_OUT_OF_RANGE),
        (topic, with_(lon=-180.5), Reason.LON_OUT_OF_RANGE),
        (topic, with_(lat=0, lon=0), Reason.NULL_ISLAND),
        (topic, with_(ts="2026-01-01T08:00:00"), Reason.BAD_TIMESTAMP),
        (topic, with_(ts="yesterday"), Reason.BAD_TIMESTAMP),
        (topic, with_(ts=now * 1000), Reason.TS_MILLISECONDS),
        (topic, with_(ts=now + 3600), Reason.TS_FUTURE),
        (topic, with_(ts=-2177452800), Reason.TS_TOO_OLD),  # 1901
        (topic, with_(ts=now - 8 * 86400), Reason.TS_TOO_OLD),
        (topic, with_(id="someone-else"), Reason.ID_MISMATCH),
    ]


def test_every_rejection_has_its_reason_and_counts_add_up(broker: Mosquitto, tmp_path: Path):
    now = time.time()
    cases = rejection_cases(now)
    good = native(
        "reject-me", [{"ts": now - 1, "lat": LAT, "lon": LON}, {"ts": now, "lat": 200, "lon": LON}]
    )
    service = make_service(broker, tmp_path / "gp.db")
    expected_pings = 1001 + (len(cases) - 1) + 2
    with running(service):
        publish_all(broker, [(t, p) for t, p, _ in cases] + [good])
        wait_for(lambda: received(service) == expected_pings, what="every ping counted")
        reasons = (
            service.store.cursor()
            .execute(
                "SELECT reason, count(*), count(*) FILTER (WHERE octet_length(payload) > 0) "
                "FROM rejected GROUP BY reason"
            )
            .fetchall()
        )
        stats = read_stats(service.store)
    by_reason = {r: (n, with_payload) for r, n, with_payload in reasons}
    for _, _, reason in cases:
        assert reason.value in by_reason, reason
    assert by_reason["batch_too_large"] == (1, 1)  # one row per message, with its payload
    assert by_reason["lat_out_of_range"][0] == 2  # one alone, one inside a good batch
    rejected = stats["rejected"]
    assert isinstance(rejected, dict)
    assert stats["stored"] == 1
    assert stats["received"] == stats["stored"] + stats["duplicates"] + sum(rejected.values())
    # counted in pings: the row of the array over the limit stands for its 1,001
    assert rejected == {**{r: n for r, (n, _) in by_reason.items()}, "batch_too_large": 1001}


def test_duplicates_are_dropped_across_restarts(broker: Mosquitto, tmp_path: Path):
    now = time.time()
    batch = [native("dup-1", [{"ts": now - i, "lat": LAT, "lon": LON} for i in range(50)])]
    db = tmp_path / "gp.db"
    for round_ in (1, 2):
        service = make_service(broker, db)
        with running(service):
            publish_all(broker, batch)
            wait_for(lambda s=service, n=50 * round_: received(s) == n, what="batch counted")
            stats = read_stats(service.store)
            count = service.store.cursor().execute("SELECT count(*) FROM pings").fetchone()
    assert stats["stored"] == 50 and stats["duplicates"] == 50
    assert count == (50,)


def test_poor_accuracy_and_speed_jumps_are_stored_but_flagged(broker: Mosquitto, tmp_path: Path):
    now = time.time() - 100
    fixes = [
        {"ts": now, "lat": LAT, "lon": LON, "acc": 5},
        {"ts": now + 5, "lat": LAT + 0.0005, "lon": LON, "acc": 80},  # poor accuracy
        {"ts": now + 10, "lat": LAT + 0.05, "lon": LON, "acc": 5},  # 5.5 km in 10 s
        {"ts": now + 15, "lat": LAT + 0.0008, "lon": LON, "acc": 5},  # back on track
    ]
    service = make_service(broker, tmp_path / "gp.db")
    with running(service):
        # out of order and in two messages: flags follow fix time, not arrival
        publish_all(broker, [native("flag-1", fixes[2:]), native("flag-1", fixes[:2])])
        wait_for(lambda: received(service) == 4, what="4 pings")
        flags = service.store.cursor().execute("SELECT flags FROM pings ORDER BY ts").fetchall()
    assert [f for (f,) in flags] == [0, FLAG_POOR_ACCURACY, FLAG_SPEED_OUTLIER, 0]


def test_strict_registry_rejects_unknown_devices(broker: Mosquitto, tmp_path: Path):
    devices = tmp_path / "devices.csv"
    devices.write_text("device_id,kind,worker,grid_id\nknown-1,tracker,Li Wei,G01\n")
    settings = IngestSettings(
        broker=broker.url,
        client_id=f"strict-{uuid.uuid4().hex[:6]}",
        session_expiry_s=5,
        batch_age_ms=50,
        strict_devices=True,
    )
    service = IngestProcess(ServeOptions(db=tmp_path / "gp.db", devices=devices), settings)
    now = time.time()
    with running(service):
        publish_all(
            broker,
            [
                native("known-1", {"ts": now, "lat": LAT, "lon": LON}),
                native("stranger", {"ts": now, "lat": LAT, "lon": LON}),
            ],
        )
        wait_for(lambda: received(service) == 2, what="2 pings")
        stats = read_stats(service.store)
    assert stats["stored"] == 1
    assert stats["rejected"] == {"unknown_device": 1}
