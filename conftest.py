"""Shared fixtures: a real Mosquitto and a real PostgreSQL per test session, DuckDB files
under tmp_path, a lake (its own PostgreSQL database and data folder) per test."""

from __future__ import annotations

import importlib.metadata
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from gridpatrol.broker import BrokerError, Mosquitto
from gridpatrol.postgres import PostgresCluster, PostgresError

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


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    """A throwaway PostgreSQL cluster (the lakes' catalogs); fails loudly (never skips) when
    the binaries are missing."""
    try:
        cluster = PostgresCluster().start()
    except PostgresError as exc:
        pytest.fail(f"these tests need a real PostgreSQL: {exc}")
    yield cluster
    cluster.cleanup()


@dataclass(frozen=True)
class Lake:
    db: str  # the --db attach string
    data_path: Path
    database: str  # the catalog's PostgreSQL database


_lake_ids = itertools.count()


@pytest.fixture
def lake(postgres: PostgresCluster, tmp_path: Path) -> Lake:
    """A new, empty lake: a PostgreSQL database of its own and a data folder in tmp_path."""
    name = f"lake_{next(_lake_ids)}"
    postgres.create_database(name)
    return Lake(postgres.attach(name), tmp_path / "lake", name)
