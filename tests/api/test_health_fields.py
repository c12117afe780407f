"""Every health field is declared beside its component, and every metric is documented.

As the README's settings table is kept equal to the settings (tests/gridpatrol/test_readme.py),
docs/api.md's ``/metrics`` row is kept equal to the declared metrics (base/health.py).
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import pkgutil
import re
from pathlib import Path

from api.models import Health
from api.routes.system import PING_COUNTERS, PINGS_REJECTED
from base.health import Reading, declared

PACKAGES = ("base", "tracks", "geofence", "ingest", "patrol", "api", "gridpatrol")
API_DOC = Path(__file__).parents[2] / "docs" / "api.md"


def declaring_classes() -> list[type]:
    """Every class of gridpatrol that declares at least one reading."""
    found = []
    for name in PACKAGES:
        package = importlib.import_module(name)
        for info in pkgutil.walk_packages(package.__path__, name + "."):
            if info.name.endswith("__main__"):
                continue  # runs the command line
            module = importlib.import_module(info.name)
            found += [
                cls
                for cls in vars(module).values()
                if inspect.isclass(cls)
                and cls.__module__ == module.__name__
                and any(r is not None for _, r in declared(cls))
            ]
    return found


CLASSES = declaring_classes()
READINGS = [(f"{c.__name__}.{n}", r) for c in CLASSES for n, r in declared(c) if r is not None]
METRICS = {r for _, r in READINGS if r.metric} | {*PING_COUNTERS.values(), PINGS_REJECTED}


def metrics_row() -> str:
    (row,) = [line for line in API_DOC.read_text().splitlines() if "`GET /metrics`" in line]
    return row


def test_the_components_are_found():
    names = {c.__name__ for c in CLASSES}
    assert {"BatcherState", "Backlog", "Batcher", "MqttIngest", "Publisher"} <= names
    assert {"LiveHealth", "LiveUpdater", "OutboxHealth", "Outbox", "UpkeepHealth"} <= names
    assert {"RoleHealth", "IdleIngest"} <= names


def test_every_field_of_a_health_dataclass_is_declared():
    undeclared = [
        f"{cls.__name__}.{name}"
        for cls in CLASSES
        if dataclasses.is_dataclass(cls)
        for name, reading in declared(cls)
        if reading is None
    ]
    assert not undeclared, "declare them with counter(), gauge() or detail() (base/health.py)"


def test_counters_and_gauges_have_a_metric_details_none():
    for where, reading in READINGS:
        assert reading.help, where
        if reading.kind == "detail":
            assert not reading.metric, where
        else:
            assert re.fullmatch(r"gridpatrol_[a-z_]+", reading.metric), where
            assert not reading.metric.endswith("_total"), f"{where}: _total is added"
    names = [r.exported() for r in METRICS]  # a reading may be shared (IdleIngest)
    assert len(names) == len(set(names)), "a metric declared twice"


def test_every_metric_is_documented_and_every_documented_one_declared():
    row = metrics_row()
    documented = set(re.findall(r"gridpatrol_[a-z_]+(?![a-z_*])", row))
    declared_names = {r.exported() for r in METRICS}
    assert declared_names - documented == set(), "not in docs/api.md's /metrics row"
    assert documented - declared_names == set(), "documented, declared nowhere"


def test_health_keys_are_fields_of_the_health_model():
    """A reading shown in /health lands on a field of the documented response model."""
    for where, reading in READINGS:
        if not reading.key:
            continue
        *section, key = reading.key.split(".")
        model: type = Health
        for name in section:
            annotation = Health.model_fields[name].annotation
            model = next(
                a for a in getattr(annotation, "__args__", (annotation,)) if a is not type(None)
            )
        assert key in model.model_fields, f"{where}: {reading.key}"


def test_a_reading_is_data():
    reading = Reading("counter", "batches committed", "gridpatrol_batches")
    assert reading.exported() == "gridpatrol_batches_total"
    assert Reading("gauge", "x", "gridpatrol_x", digits=3).shown(1.23456) == 1.235
