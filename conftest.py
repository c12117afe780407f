"""Shared fixtures: a real Mosquitto and a real PostgreSQL per test session, DuckDB files
under tmp_path, a lake (its own PostgreSQL database and data folder) per test, and the
factories that record every process, broker and cluster a test starts and end each one at
its teardown (tests/processes.py)."""

from __future__ import annotations

import importlib.metadata
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from gridpatrol.broker import BrokerError, Mosquitto
from gridpatrol.postgres import PostgresCluster, PostgresError
from tests.processes import Brokers, Clusters, Processes

LIBRARIES = ("duckdb", "numba", "numpy", "polars", "paho-mqtt", "msgspec", "shapely")


def pytest_report_header() -> list[str]:
    versions = ", ".join(f"{n} {importlib.metadata.version(n)}" for n in LIBRARIES)
    return [f"libraries: {versions}"]


@pytest.fixture(scope="session")
def broker() -> Iterator[Mosquitto]:
    """A real Mosquitto on a free port; fails loudly (never skips) when it is missing."""
    brokers = Brokers()
    try:
        try:
            mosquitto = brokers()
        except BrokerError as exc:
            pytest.fail(f"these tests need a real broker: {exc}")
        yield mosquitto
    finally:
        brokers.cleanup()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    """A throwaway PostgreSQL cluster (the lakes' catalogs); fails loudly (never skips) when
    the binaries are missing."""
    clusters = Clusters()
    try:
        try:
            cluster = clusters()
        except PostgresError as exc:
            pytest.fail(f"these tests need a real PostgreSQL: {exc}")
        yield cluster
    finally:
        clusters.cleanup()


@pytest.fixture
def processes() -> Iterator[Processes]:
    """Records every process the test starts through it (``processes.popen(args)``); ends
    each at teardown (SIGTERM, SIGKILL after a grace), also when the test fails."""
    started = Processes()
    try:
        yield started
    finally:
        started.end_all()


@pytest.fixture
def brokers(processes: Processes) -> Iterator[Brokers]:
    """Starts Mosquittos of the test's own (``brokers(persistence=True)``); each stopped and
    its folder removed at teardown, after the test's processes have ended."""
    started = Brokers()
    try:
        yield started
    finally:
        try:
            processes.end_all()  # before their broker goes
        finally:
            started.cleanup()


@pytest.fixture
def clusters(processes: Processes) -> Iterator[Clusters]:
    """Starts PostgreSQL clusters of the test's own (``clusters(also_on=...)``); each
    stopped and removed at teardown, after the test's processes have ended."""
    started = Clusters()
    try:
        yield started
    finally:
        try:
            processes.end_all()  # before their catalog goes
        finally:
            started.cleanup()


@pytest.fixture
def own_postgres(clusters: Clusters) -> PostgresCluster:
    """A cluster of this test's own: the test stops and starts it."""
    return clusters()


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
