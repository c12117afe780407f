"""Shared fixtures: a real Mosquitto per test session, DuckDB files under tmp_path."""

from __future__ import annotations

import importlib.metadata
from collections.abc import Iterator

import pytest

from gridpatrol.broker import BrokerError, Mosquitto

LIBRARIES = ("duckdb", "numba", "numpy", "polars", "paho-mqtt", "msgspec", "shapely")


def pytest_report_header() -> list[str]:
    versions = ", ".join(f"{n} {importlib.metadata.version(n)}" for n in LIBRARIES)
    return [f"libraries: {versions}"]


@pytest.fixture(scope="session")
def broker() -> Iterator[Mosquitto]:
    """A real Mosquitto on a free port; fails loudly (never skips) when it is missing."""
    try:
        mosquitto = Mosquitto().start()
    except BrokerError as exc:
        pytest.fail(f"these tests need a real broker: {exc}")
    yield mosquitto
    mosquitto.cleanup()
