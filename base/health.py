"""Health as data: each component declares what it counts, measures and shows, beside itself.

As :mod:`base.settings` does for settings, a component's health dataclass declares each
field once: a counter or a gauge (its Prometheus name and help line), or a detail (shown in
``/health`` only, or kept for logs and tests). A value a component computes rather than
stores (a queue's depth) is declared on its method with :func:`measure`. ``key`` places a
reading in the ``/health`` body (``"backlog.messages"``: field ``messages`` of section
``backlog``); a reading without a key is a metric only.

A component names its own problems (``problems() -> list[str]``, the causes of a 503), and
names the parts that declare health of their own in ``HEALTH_PARTS`` (attribute or method
names). ``api/routes/system.py`` iterates all this; ``tests/api/test_health_fields.py``
fails when a field is not declared or a metric is not documented in docs/api.md.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

Kind = Literal["counter", "gauge", "detail"]

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Reading:
    """One declared health value: how it is exported (``metric``) and shown (``key``)."""

    kind: Kind
    help: str
    metric: str = ""  # the Prometheus name (a counter's without ``_total``); "" for a detail
    key: str = ""  # where /health shows it, "section.field" or "field"; "": not shown
    number: Callable[[Any], float] = float  # the metric's value from the stored one
    digits: int | None = None  # /health rounds to this many decimals
    label: str = ""  # a labelled metric: its value maps each label value to a number

    def exported(self) -> str:
        """The name /metrics shows (prometheus_client adds ``_total`` to a counter)."""
        return self.metric + "_total" if self.kind == "counter" else self.metric

    def shown(self, value: Any) -> Any:
        return round(value, self.digits) if self.digits is not None else value


def _field(default: Any, reading: Reading) -> Any:
    return dataclasses.field(default=default, metadata={"reading": reading})


def counter(metric: str, help: str, *, default: Any = 0, key: str = "") -> Any:
    """A dataclass field that only grows: exported as ``{metric}_total``."""
    return _field(default, Reading("counter", help, metric, key))


def gauge(
    metric: str,
    help: str,
    *,
    default: Any = 0,
    key: str = "",
    number: Callable[[Any], float] = float,
    digits: int | None = None,
) -> Any:
    """A dataclass field that goes up and down; ``number`` turns it into the metric."""
    return _field(default, Reading("gauge", help, metric, key, number, digits))


def detail(help: str, *, default: Any = None, key: str = "", digits: int | None = None) -> Any:
    """A dataclass field with no metric: shown in /health under ``key``, or kept for tests."""
    return _field(default, Reading("detail", help, "", key, digits=digits))


def measure(reading: Reading) -> Callable[[F], F]:
    """Declare a method's value (no arguments) as a reading of its object."""

    def mark(method: F) -> F:
        method.__reading__ = reading  # type: ignore[attr-defined]
        return method

    return mark


def declared(cls: type) -> Iterator[tuple[str, Reading | None]]:
    """(name, reading) of every dataclass field of ``cls`` (None: not declared) and every
    method declared with :func:`measure`."""
    if dataclasses.is_dataclass(cls):
        for f in dataclasses.fields(cls):
            yield f.name, f.metadata.get("reading")
    for klass in reversed(cls.__mro__):
        for name, value in vars(klass).items():
            reading = getattr(value, "__reading__", None)
            if isinstance(reading, Reading):
                yield name, reading


def parts(source: object) -> Iterator[object]:
    """The object itself, then the parts it names in ``HEALTH_PARTS`` (depth first)."""
    yield source
    for name in getattr(source, "HEALTH_PARTS", ()):
        part = getattr(source, name)
        if callable(part):
            part = part()
        if part is not None:
            yield from parts(part)


def readings(source: object) -> Iterator[tuple[Reading, Any]]:
    """(reading, value) of everything ``source`` and its parts declare."""
    for part in parts(source):
        for name, reading in declared(type(part)):
            if reading is not None:
                value = getattr(part, name)
                yield reading, value() if callable(value) else value


def problems_of(sources: Iterable[object]) -> list[str]:
    """What the sources and their parts name as wrong now (each ``problems()``)."""
    found: list[str] = []
    for source in sources:
        for part in parts(source):
            named = getattr(part, "problems", None)
            if callable(named):
                found += named()
    return found


def shown_by(sources: Iterable[object]) -> dict[str, Any]:
    """What the sources show in /health, by key (``"a.b"``: field ``b`` of section ``a``)."""
    body: dict[str, Any] = {}
    for source in sources:
        for reading, value in readings(source):
            if reading.key:
                *sections, key = reading.key.split(".")
                into = body
                for section in sections:
                    into = into.setdefault(section, {})
                into[key] = reading.shown(value)
    return body
