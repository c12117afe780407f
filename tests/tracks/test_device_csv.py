"""Devices CSVs as offices write them: ids checked, GBK read, all-digit ids kept as text."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from base.errors import ConfigError
from tracks.queries import import_devices
from tracks.store import Store

HEADER = "device_id,kind,worker,grid_id\n"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gridpatrol", *args], capture_output=True, text=True, timeout=120
    )


def test_bad_device_ids_are_refused_one_line_each(tmp_path: Path):
    path = tmp_path / "devices.csv"
    path.write_text(
        HEADER + "bike-01,tracker,Li,A\nbike/02,tracker,Wang,A\nok.3,phone,Zhao,A\n"
        "bike+#,tracker,Qian,A\n" + "x" * 65 + ",phone,Sun,A\n"
    )
    with Store(tmp_path / "gp.db") as store:
        with pytest.raises(ConfigError) as caught:
            import_devices(store, path)
        assert store.read_rows("SELECT count(*) FROM devices") == [(0,)]  # nothing half-done
    lines = str(caught.value).splitlines()
    assert lines[0].startswith(f"{path}: 3 device ids not usable")
    assert lines[1:] == [
        "  line 3: 'bike/02'",
        "  line 5: 'bike+#'",
        f"  line 6: '{'x' * 65}'",
    ]


def test_a_gbk_csv_from_excel_is_read(tmp_path: Path):
    path = tmp_path / "devices.csv"
    path.write_bytes(
        (HEADER + "13800138000,tracker,李伟,A\nwang.phone,phone,王芳,A\n").encode("gbk")
    )
    with Store(tmp_path / "gp.db") as store:
        assert import_devices(store, path) == 2
        rows = store.read_rows("SELECT device_id, worker FROM devices ORDER BY device_id")
    assert rows == [("13800138000", "李伟"), ("wang.phone", "王芳")]


def test_an_unreadable_encoding_says_what_is_expected(tmp_path: Path):
    path = tmp_path / "devices.csv"
    path.write_bytes(HEADER.encode() + b"bike-01,tracker,\x81\x20\xff,A\n")
    with Store(tmp_path / "gp.db") as store, pytest.raises(ConfigError) as caught:
        import_devices(store, path)
    assert str(caught.value) == (
        f"{path}: neither UTF-8 nor GB18030 (GBK): save it as CSV UTF-8 or as CSV from a "
        "Chinese Excel"
    )


def test_broker_config_keeps_all_digit_ids_as_text(tmp_path: Path):
    """JT/T 808 phone numbers: leading zeros kept, no traceback."""
    path = tmp_path / "devices.csv"
    path.write_bytes(
        (HEADER + "013800138000,tracker,李伟,A\nbike-01,tracker,王芳,A\n").encode("gbk")
    )
    out = run("broker-config", "--devices", str(path), "--out", str(tmp_path / "broker"))
    assert out.returncode == 0, out.stderr
    acl = (tmp_path / "broker" / "acl").read_text()
    assert "user 013800138000\ntopic write gridpatrol/v1/ping/013800138000\n" in acl
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + "bike/1,tracker,Li,A\n")
    out = run("broker-config", "--devices", str(bad), "--out", str(tmp_path / "b2"))
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "line 2: 'bike/1'" in out.stderr
