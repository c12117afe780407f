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
    out = run("jt808", "--auth-secret-file", str(tmp_path / "none"))
    assert out.returncode == 2 and "--auth-secret-file" in out.stderr
    shared = tmp_path / "shared.secret"
    shared.write_bytes(b"s" * 32)
    shared.chmod(0o644)  # what a plain write leaves under the usual umask
    out = run("jt808", "--auth-secret-file", str(shared))
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.strip() == (
        f"gridpatrol: error: --auth-secret-file {shared}: mode 0644 lets others read it or "
        f"change it; make it the owner's alone: chmod 600 {shared}"
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
    secret = tmp_path / "secret"
    secret.write_bytes(b"s" * 32)
    secret.chmod(0o600)
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
            "--auth-secret-file",
            str(secret),
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
