"""How a grid file is read, as its import flags say: its CRS, its attributes' encoding and
which of its fields hold each of our properties (a command centre's file names them in
Chinese: 网格编码, 网格名称 ...).

A GeoJSON file's properties are ours by default (docs/rules.md, "Grids"); a shapefile's dbf
field names are at most 10 characters, so its defaults for the interval and the service
hours are ``interval`` and ``hours``. Names are matched without regard to case (dbf
fields are often upper case).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: Our properties, in the order the flags list them.
PROPERTIES = ("id", "name", "parent", "interval_min", "service_hours")
GEOJSON_FIELDS: Mapping[str, str] = {p: p for p in PROPERTIES}
SHAPEFILE_FIELDS: Mapping[str, str] = {
    **GEOJSON_FIELDS,
    "interval_min": "interval",
    "service_hours": "hours",
}
#: Properties whose empty value means "none" (a dbf text field cannot be null).
_OPTIONAL_TEXT = ("name", "parent", "service_hours")


@dataclass(frozen=True)
class GridSource:
    """The import flags: ``--crs``, ``--encoding`` and the ``--*-field`` names."""

    crs: str | None = None  # wgs84, gcj02, bd09 or EPSG:NNNN; None: the file's own, or WGS-84
    encoding: str | None = None  # a shapefile's attributes (None: its .cpg, else tried)
    fields: Mapping[str, str] = field(default_factory=dict)  # our property -> the file's


def _value(prop: str, value: Any) -> Any:
    """A dbf value as our property wants it: ids as text, numbers from text, '' as none."""
    if isinstance(value, str):
        value = value.strip()
        if value == "" and prop in (*_OPTIONAL_TEXT, "interval_min"):
            return None
        if prop == "interval_min":
            try:
                return float(value)
            except ValueError:
                return value
        return value
    if prop in ("id", "parent", "name") and isinstance(value, int | float):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        return str(value) if not isinstance(value, bool) else value
    return value


def _has_id(feature: Any) -> bool:
    props = feature.get("properties") if isinstance(feature, dict) else None
    return isinstance(props, dict) and "id" in props


#: Field names a problem line lists at most.
FIELDS_SHOWN = 20


def rename_fields(
    features: list[Any], source: GridSource, *, shapefile: bool
) -> tuple[list[Any], list[str]]:
    """The features with our property names and values (a numeric code as a text id, an
    empty text as none), and the problems: a field the flags name that no feature has, one
    line each. A GeoJSON file read with our own names is passed on as it is."""
    names = {**(SHAPEFILE_FIELDS if shapefile else GEOJSON_FIELDS), **source.fields}
    if names == GEOJSON_FIELDS and not shapefile and any(_has_id(f) for f in features):
        return features, []
    seen: set[str] = set()
    out = []
    for feature in features:
        props = feature.get("properties") if isinstance(feature, dict) else None
        if not isinstance(props, dict):
            out.append(feature)
            continue
        by_key = {str(k).lower(): v for k, v in props.items()}
        seen.update(by_key)
        mapped = {}
        for prop, name in names.items():
            if name.lower() in by_key:
                value = by_key[name.lower()]
                mapped[prop] = _value(prop, value)
        out.append({**feature, "properties": {k: v for k, v in mapped.items() if v is not None}})
    problems = [
        f"no field {name!r} for the grids' {prop} (fields: {_listed(seen)})"
        for prop, name in names.items()
        if (prop in source.fields or prop == "id") and name.lower() not in seen
    ]
    return out, problems


def _listed(names: set[str]) -> str:
    shown = sorted(names)[:FIELDS_SHOWN]
    more = f" and {len(names) - FIELDS_SHOWN} more" if len(names) > FIELDS_SHOWN else ""
    return ", ".join(shown) + more if shown else "none"
