"""``gridpatrol jt808`` and ``simulate --protocol jt808`` on the command line."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.request

import pytest

from gridpatrol.broker import free_port
from gridpatrol.demo import demo_files
from tests.mqtt_helpers import wait_for


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gridpatrol", *args], capture_output=True, text=True, timeout=60
    )


def test_bad_flags_give_one_line_and_exit_2(tmp_path):
    out = run("jt808", "--broker", "http://nowhere")
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "mqtt://HOST:PORT" in out.stderr
    out = run("jt808", "--listen", "nowhere", "--broker", "mqtt://127.0.0.1:1")
    assert out.returncode == 2 and "expected HOST:PORT" in out.stderr
    out = run("jt808", "--broker", "mqtt://127.0.0.1:1")
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.strip() == (
        "gridpatrol: error: --db is required: the terminal registry "
        "(gridpatrol terminals import FILE --db DB)"
    )
    grids, devices = demo_files()
    out = run(
        "simulate",
        "--broker",
        "mqtt://127.0.0.1:1",
        "--grids",
        str(grids),
        "--devices",
        str(devices),
        "--protocol",
        "jt808",
    )
    assert out.returncode == 2
    assert out.stderr.strip() == "gridpatrol: error: --protocol jt808 needs --gateway HOST:PORT"


@pytest.mark.broker
def test_the_gateway_serves_health_and_stops_on_sigterm(broker, processes, tmp_path):
    registry = tmp_path / "jt808.db"
    csv = tmp_path / "terminals.csv"
    csv.write_text("phone,terminal_id,plate,device_id\n013900000001,,,\n")
    assert run("terminals", "import", str(csv), "--db", str(registry)).returncode == 0
    http = free_port()
    process = processes.popen(
        [
            sys.executable,
            "-m",
            "gridpatrol",
            "jt808",
            "--listen",
            f"127.0.0.1:{free_port()}",
            "--broker",
            broker.url,
            "--db",
            str(registry),
            "--http",
            f"127.0.0.1:{http}",
        ]
    )

    def health() -> dict[str, object] | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{http}/health") as response:
                body: dict[str, object] = json.loads(response.read())
        except OSError:  # not listening yet
            return None
        return body if body["broker"] else None

    # a cold start on a loaded machine: poll with a generous deadline
    body = wait_for(health, timeout_s=60, what="the gateway's health with its broker")
    assert body == {"broker": True, "connections": 0, "pending_publishes": 0}
    process.send_signal(signal.SIGTERM)
    assert process.wait(30) == 0


def test_terminals_import_list_reset_and_the_gateways_acl(tmp_path):
    db = str(tmp_path / "jt808.db")
    csv = tmp_path / "terminals.csv"
    csv.write_text(
        "phone,terminal_id,plate,device_id\n"
        "013900000001,SIM0001,,\n"
        "00000000013900000002,,津A12345,bike-02\n"
    )
    out = run("terminals", "import", str(csv), "--db", db)
    assert (out.returncode, out.stdout) == (0, "imported 2 terminals\n")
    out = run("terminals", "list", "--db", db)
    assert out.stdout.splitlines() == [
        "phone,terminal_id,plate,device_id,registered_at",
        "13900000001,SIM0001,,13900000001,",
        "13900000002,,津A12345,bike-02,",
    ]
    out = run("terminals", "reset", "013900000001", "--db", db, "--reason", "tracker replaced")
    assert out.returncode == 0 and "next registration" in out.stdout
    out = run("terminals", "reset", "013800000001", "--db", db)
    assert out.returncode == 2
    assert out.stderr.strip() == "gridpatrol: error: 013800000001: no such terminal in the registry"
    bad = tmp_path / "bad.csv"
    bad.write_text("phone,terminal_id,plate,device_id\n0139x,,,\n")
    out = run("terminals", "import", str(bad), "--db", db)
    assert out.returncode == 2 and "line 2: phone must be 1 to 20 digits" in out.stderr
    devices = tmp_path / "devices.csv"
    devices.write_text("device_id,kind,worker,grid_id\nbike-01,tracker,,\n")
    out = run(
        "broker-config",
        "--devices",
        str(devices),
        "--terminals",
        str(csv),
        "--out",
        str(tmp_path / "broker"),
    )
    assert out.returncode == 0, out.stderr
    acl = (tmp_path / "broker" / "acl").read_text()
    section = acl[acl.index("user gridpatrol-jt808") :].split("\n\n")[0]
    assert section.splitlines() == [
        "user gridpatrol-jt808",
        "topic write gridpatrol/v1/ping/13900000001",
        "topic read gridpatrol/v1/cmd/13900000001",
        "topic write gridpatrol/v1/reply/13900000001",
        "topic write gridpatrol/v1/ping/bike-02",
        "topic read gridpatrol/v1/cmd/bike-02",
        "topic write gridpatrol/v1/reply/bike-02",
    ]
    assert "gridpatrol-jt808," in (tmp_path / "broker" / "credentials.csv").read_text()
