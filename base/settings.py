"""Settings as frozen dataclasses: defaults, help lines, and GRIDPATROL_* overrides.

Every package declares one frozen dataclass whose fields carry a ``help`` line in their
metadata. Entry points build each one once with :func:`build_settings` (CLI flags win over
environment variables, which win over defaults) and pass it down.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import Any, TypeVar

from base.errors import ConfigError

T = TypeVar("T")


def setting(default: Any, help: str) -> Any:
    """A dataclass field with a default and the help line shown in docs and ``--help``."""
    return dataclasses.field(default=default, metadata={"help": help})


def env_name(prefix: str, field: str) -> str:
    return f"GRIDPATROL_{prefix}_{field}".upper()


def _coerce(value: str, kind: type, name: str) -> Any:
    try:
        if kind is bool:
            if value.lower() in ("1", "true", "yes", "on"):
                return True
            if value.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(value)
        return kind(value)
    except ValueError as exc:
        raise ConfigError(f"{name}: cannot read {value!r} as {kind.__name__}") from exc


def build_settings(
    cls: type[T],
    prefix: str,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> T:
    """Make ``cls`` from defaults, then ``GRIDPATROL_{PREFIX}_{FIELD}`` variables, then overrides.

    Overrides whose value is ``None`` are ignored, so argparse namespaces can be passed whole.
    """
    environ = os.environ if environ is None else environ
    overrides = overrides or {}
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        kind = type(f.default)
        env = env_name(prefix, f.name)
        if overrides.get(f.name) is not None:
            values[f.name] = overrides[f.name]
        elif env in environ and kind in (int, float, str, bool):
            values[f.name] = _coerce(environ[env], kind, env)
    return cls(**values)


def describe_settings(cls: type, prefix: str) -> list[tuple[str, str, str]]:
    """(environment variable, default, help) for every field: the README's config table."""
    return [
        (env_name(prefix, f.name), repr(f.default), f.metadata["help"])
        for f in dataclasses.fields(cls)
    ]
