"""Geofence is pure: importing every module loads no storage, transport or HTTP library."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import geofence

FORBIDDEN = ("duckdb", "paho", "fastapi", "starlette", "tracks", "ingest", "patrol", "api")


def test_geofence_modules_import_no_storage_transport_or_http():
    modules = sorted(f"geofence.{m.name}" for m in pkgutil.iter_modules(geofence.__path__))
    assert "geofence.grids" in modules and "geofence.compliance" in modules
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r}))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_the_geofence_tests_need_no_database():
    here = Path(__file__).parent
    for path in sorted(here.glob("*.py")):
        imports = [
            line for line in path.read_text().splitlines() if line.startswith(("import ", "from "))
        ]
        roots = {line.split()[1].split(".")[0] for line in imports}
        assert not roots & set(FORBIDDEN), (path.name, roots & set(FORBIDDEN))
