"""broker-config against a real Mosquitto: no spoofing, no wrong passwords, no anonymous."""

from __future__ import annotations

import csv
import io
import queue
import shutil
import socket
import stat
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from base.spreadsheet import FORMULA_START
from gridpatrol.broker import find_mosquitto, free_port, mosquitto_config
from gridpatrol.brokerconfig import BrokerFiles, write_broker_config
from ingest.config import MAX_PACKET_BYTES
from tests.mqtt_helpers import wait_for
from tests.processes import Processes

pytestmark = pytest.mark.broker


def client(
    port: int, user: str | None, password: str | None, name: str
) -> tuple[paho.Client, object]:
    c = paho.Client(CallbackAPIVersion.VERSION2, client_id=name, protocol=paho.MQTTv5)
    if user is not None:
        c.username_pw_set(user, password)
    result: queue.Queue[object] = queue.Queue()
    c.on_connect = lambda cl, u, flags, reason, props: result.put(reason)
    c.connect("127.0.0.1", port)
    c.loop_start()
    return c, result.get(timeout=10)


def _accepts(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def secured_broker(
    processes: Processes, tmp_path: Path
) -> Iterator[tuple[int, dict[str, str], BrokerFiles]]:
    """Mosquitto on the configuration broker-config writes; ended by ``processes``."""
    binary = find_mosquitto()
    if binary is None:
        pytest.fail("these tests need the mosquitto binary (apt-get install mosquitto)")
    port = free_port()
    # Mosquitto started as root drops to its own user: the folder must be reachable by it
    out = Path(tempfile.mkdtemp(prefix="gridpatrol-acl-"))
    try:
        out.chmod(0o755)
        files = write_broker_config(["bike-01", "bike-02", "wang.phone"], out, port=port)
        log = tmp_path / "mosquitto.log"
        with open(log, "wb") as sink:
            proc = processes.popen([binary, "-c", str(files.config)], stderr=sink)
        wait_for(
            lambda: proc.poll() is not None or _accepts(port),
            timeout_s=30,
            what="Mosquitto to listen",
        )
        assert proc.poll() is None, log.read_text()
        with open(files.credentials, newline="") as f:
            creds = {row["username"]: row["password"] for row in csv.DictReader(f)}
        yield port, creds, files
    finally:
        processes.end_all()
        shutil.rmtree(out, ignore_errors=True)


def test_devices_publish_only_their_own_topics(secured_broker):
    port, creds, _ = secured_broker
    service, reason = client(port, "gridpatrol", creds["gridpatrol"], "svc")
    assert not reason.is_failure
    got: queue.Queue[str] = queue.Queue()
    service.on_message = lambda c, u, m: got.put(m.topic)
    subscribed = threading.Event()
    service.on_subscribe = lambda *args: subscribed.set()
    service.subscribe([("gridpatrol/v1/ping/+", 1), ("owntracks/+/+", 1)])
    assert subscribed.wait(10)
    bike, reason = client(port, "bike-01", creds["bike-01"], "bike-01")
    assert not reason.is_failure
    bike.publish("gridpatrol/v1/ping/bike-02", b'{"ts": 1, "lat": 1, "lon": 1}', qos=1)  # spoof
    bike.publish("gridpatrol/v1/ping/bike-01", b'{"ts": 1, "lat": 1, "lon": 1}', qos=1)
    phone, reason = client(port, "wang.phone", creds["wang.phone"], "phone")
    phone.publish("owntracks/li/phone", b'{"_type": "lwt"}', qos=1)  # spoof
    phone.publish("owntracks/wang/phone", b'{"_type": "lwt"}', qos=1)
    # each client's spoof goes before its allowed message, and a client's messages arrive in
    # order: once both allowed ones are here, a spoof let through would be here too
    topics = [got.get(timeout=10), got.get(timeout=10)]
    assert sorted(topics) == ["gridpatrol/v1/ping/bike-01", "owntracks/wang/phone"]
    assert got.empty(), got.get()
    for c in (service, bike, phone):
        c.disconnect()
        c.loop_stop()


def test_wrong_password_and_anonymous_are_refused(secured_broker):
    port, _creds, files = secured_broker
    c, reason = client(port, "bike-01", "not-the-password", "bad")
    assert reason.is_failure
    c.loop_stop()
    c, reason = client(port, None, None, "anon")
    assert reason.is_failure
    c.loop_stop()
    assert stat.S_IMODE(files.credentials.stat().st_mode) == 0o600


def test_rerun_keeps_passwords_unless_rotated(tmp_path):
    out = tmp_path / "b"
    first = write_broker_config(["bike-01"], out)
    before = first.credentials.read_text()
    assert write_broker_config(["bike-01"], out).credentials.read_text() == before
    assert write_broker_config(["bike-01"], out, rotate=True).credentials.read_text() != before


def test_credentials_csv_neutralises_formulas_and_reads_back(tmp_path):
    out = tmp_path / "b"
    files = write_broker_config(["-bike", "bike-01"], out)
    rows = list(csv.reader(io.StringIO(files.credentials.read_text(), newline="")))
    assert [r[0] for r in rows] == ["username", "gridpatrol", "'-bike", "bike-01"]
    assert not any(r[1].startswith(FORMULA_START) for r in rows[1:])
    before = files.credentials.read_text()
    assert write_broker_config(["-bike", "bike-01"], out).credentials.read_text() == before
    assert "-bike:" in files.passwd.read_text()


@pytest.mark.parametrize("name", ["gridpatrol", "gridpatrol-jt808"])
def test_a_device_named_as_a_service_account_is_refused(tmp_path, name):
    """Before, a device ``gridpatrol`` shared the service account's ACL section: it could
    read every device's pings and publish alerts."""
    with pytest.raises(ValueError, match=rf"device ids \['{name}'\] are the broker accounts"):
        write_broker_config(["bike-01", name], tmp_path / "b")
    assert not (tmp_path / "b" / "acl").exists()  # nothing written


def test_a_packet_over_the_maximum_is_refused_by_the_broker(secured_broker):
    """max_packet_size in the config broker-config writes: Mosquitto disconnects a device that
    sends a larger packet, and no subscriber (serve) ever holds it."""
    port, creds, files = secured_broker
    assert f"max_packet_size {MAX_PACKET_BYTES}\n" in files.config.read_text()
    assert f"max_packet_size {MAX_PACKET_BYTES}\n" in mosquitto_config(1883, Path("/tmp"))
    service, reason = client(port, "gridpatrol", creds["gridpatrol"], "svc-max")
    assert not reason.is_failure
    got: queue.Queue[str] = queue.Queue()
    service.on_message = lambda c, u, m: got.put(m.topic)
    subscribed = threading.Event()
    service.on_subscribe = lambda *args: subscribed.set()
    service.subscribe([("gridpatrol/v1/ping/+", 1)])
    assert subscribed.wait(10)
    bike, reason = client(port, "bike-01", creds["bike-01"], "bike-01-max")
    assert not reason.is_failure
    gone = threading.Event()
    bike.on_disconnect = lambda *args: gone.set()
    bike.publish("gridpatrol/v1/ping/bike-01", b"x" * (MAX_PACKET_BYTES + 1), qos=1)
    assert gone.wait(10), "the broker kept the connection of a device sending a huge packet"
    other, reason = client(port, "bike-02", creds["bike-02"], "bike-02-max")
    assert not reason.is_failure
    other.publish("gridpatrol/v1/ping/bike-02", b'{"ts": 1, "lat": 1, "lon": 1}', qos=1)
    assert got.get(timeout=10) == "gridpatrol/v1/ping/bike-02"
    assert got.empty(), got.get()
    for c in (service, bike, other):
        c.disconnect()
        c.loop_stop()


def _session(port: int, password: str) -> paho.Client:
    """The service account's persistent session, as serve opens it (clean start false: Mosquitto
    saves no session that began with a clean start, whatever its expiry)."""
    c = paho.Client(CallbackAPIVersion.VERSION2, client_id="svc-durable", protocol=paho.MQTTv5)
    c.username_pw_set("gridpatrol", password)
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 3600
    c.connect("127.0.0.1", port, clean_start=False, properties=props)
    return c


def test_acknowledged_messages_survive_a_broker_crash_a_second_later(
    secured_broker, processes: Processes
):
    """The config saves the queue every second (autosave_interval 10 lost every message of the
    last ten seconds: docs/operations.md, "What a broker crash loses")."""
    port, creds, files = secured_broker
    service = _session(port, creds["gridpatrol"])
    subscribed = threading.Event()
    service.on_subscribe = lambda *args: subscribed.set()
    service.loop_start()
    service.subscribe("gridpatrol/v1/ping/+", qos=1)
    assert subscribed.wait(10)
    service.disconnect()  # serve away: the broker queues for its session
    service.loop_stop()
    bike, reason = client(port, "bike-01", creds["bike-01"], "bike-01-durable")
    assert not reason.is_failure
    infos = [
        bike.publish("gridpatrol/v1/ping/bike-01", f'{{"ts": {i}}}'.encode(), qos=1)
        for i in range(50)
    ]
    for info in infos:
        info.wait_for_publish(10)
    bike.disconnect()
    bike.loop_stop()
    time.sleep(2.5)  # more than a second after the last PUBACK, less than ten
    (mosquitto,) = [p for p in processes.started if p.poll() is None]
    mosquitto.kill()  # the crash: no save at exit
    mosquitto.wait()
    binary = find_mosquitto()
    assert binary is not None
    restarted = processes.popen([binary, "-c", str(files.config)], stderr=subprocess.DEVNULL)
    wait_for(lambda: restarted.poll() is not None or _accepts(port), 30, what="the restart")
    got: queue.Queue[bytes] = queue.Queue()
    service = _session(port, creds["gridpatrol"])
    service.on_message = lambda c, u, m: got.put(m.payload)
    service.loop_start()
    received = [got.get(timeout=10) for _ in range(50)]
    assert received[0] == b'{"ts": 0}' and received[-1] == b'{"ts": 49}'
    service.disconnect()
    service.loop_stop()
