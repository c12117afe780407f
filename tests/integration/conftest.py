"""Fixtures of the integration tests: serve processes of each role on one lake."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.lake_roles import Serves
from tests.processes import Processes


@pytest.fixture
def serves(processes: Processes) -> Iterator[Serves]:
    """Starts serve processes and ingest workers (:class:`Serves`); each is ended at the
    test's teardown, also when it fails, and the end of its log shown on a failure."""
    started = Serves(processes)
    try:
        yield started
    finally:
        started.end_all()
