"""schemathesis against the served /openapi.json with a valid token: no 5xx anywhere."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.api.conftest import Served

pytestmark = pytest.mark.broker


def test_schemathesis_finds_no_server_error(served: Served):
    binary = shutil.which("schemathesis") or str(Path(sys.executable).parent / "schemathesis")
    result = subprocess.run(
        [binary, "run", served.url + "/openapi.json",
         "-H", f"Authorization: Bearer {served.admin}",
         "--checks", "not_a_server_error", "--max-examples", "30",
         "--exclude-path", "/api/v1/alerts/stream", "--request-timeout", "20"],
        capture_output=True, text=True, timeout=400,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "Tested: 11" in result.stdout, result.stdout[-3000:]  # every operation but SSE
