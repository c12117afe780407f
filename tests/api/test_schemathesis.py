"""schemathesis against the served /openapi.json with a valid token: every response conforms
to its documented schema, status code, content type and headers, and no 5xx anywhere.

The result is read from schemathesis' JUnit XML report, one test case per operation.
``positive_data_acceptance`` is left out on purpose: a window the schema allows (any two
times of at most 64 characters) is still refused when end is before start or the window is
longer than --max-window-days, and that 422 is the documented answer.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import Served

pytestmark = pytest.mark.broker


def test_schemathesis_finds_every_response_conforming(served: Served, tmp_path):
    schema = httpx.get(served.url + "/openapi.json", timeout=30).json()
    operations = {
        f"{method.upper()} {path}"
        for path, methods in schema["paths"].items()
        for method in methods
    } - {"GET /api/v1/alerts/stream", "GET /api/v1/devices/stream"}
    # GET /api/v1/backup, /access, /attendance, /devices/{device_id}/command-log, /tiles,
    # /tiles/{z}/{x}/{y}, and POST /devices/{device_id}/commands and /grids/{grid_id}/rollcall
    assert len(operations) == 22
    assert "POST /api/v1/alerts/{alert_id}/ack" in operations
    junit = tmp_path / "junit.xml"
    binary = shutil.which("schemathesis") or str(Path(sys.executable).parent / "schemathesis")
    result = subprocess.run(
        [
            binary,
            "run",
            served.url + "/openapi.json",
            "-H",
            f"Authorization: Bearer {served.admin}",
            "--checks",
            "all",
            "--exclude-checks",
            "positive_data_acceptance",
            "--max-examples",
            "30",
            "--exclude-path",
            "/api/v1/alerts/stream",
            "--exclude-path",
            "/api/v1/devices/stream",
            # commands wait for devices (up to --command-timeout-s): tests/integration/
            # test_jt808_commands.py sends them
            "--exclude-path-regex",
            "/(commands|rollcall)$",
            "--request-timeout",
            "20",
            "--report",
            "junit",
            "--report-junit-path",
            str(junit),
        ],
        capture_output=True,
        text=True,
        timeout=400,
    )
    cases = ET.parse(junit).getroot().findall(".//testcase")
    failed = {
        case.get("name"): [(p.get("message") or p.text or "")[:500] for p in case]
        for case in cases
        if case.find("failure") is not None or case.find("error") is not None
    }
    assert failed == {}, result.stdout[-3000:]
    # one case per operation, plus one for the stateful (linked operations) phase
    assert {case.get("name") for case in cases} - {"Stateful tests"} == operations - {
        "POST /api/v1/devices/{device_id}/commands",
        "POST /api/v1/grids/{grid_id}/rollcall",
    }
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
