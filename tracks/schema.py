"""The tables: one declaration per table builds both its DDL and its polars schema.

The tables are a public interface that users query with SQL (see docs/storage.md). Each
:class:`Table` lists its columns once; :attr:`Table.ddl` is what the store creates and
:attr:`Table.schema` is the polars schema of the frames written to it and read from it
(``tests/tracks/test_schema.py`` creates a database and checks every table agrees).

Bump :data:`SCHEMA_VERSION` (and teach :mod:`tracks.store` the migration) on every change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

import polars as pl

#: 2: the derived patrol data (``ping_changes`` and the ``derived_*`` tables), created on
#: open in a version 1 file, whose derived days are then built by the stage or ``derive``.
#: 3: ``alerts_published`` (the alerts' outbox), created on open in an older file, which
#: then records every alert it holds as published (the older version published each one
#: it raised), so an upgrade publishes no old alert again.
#: 4: ``terminals`` and ``terminal_events`` (the JT/T 808 registry) and ``access_log``,
#: created empty on open in an older file; a version 3 gridpatrol refuses a version 4 file.
#: 5: ``rosters``, ``roster_shifts`` (who should be where, when) and ``calendar_days`` (the
#: holidays and working days that decide where weekly patterns apply), created empty on open
#: in an older file; ``alert_acks`` (operators' acknowledgements of alerts) and
#: ``device_datums`` (the datum each device reports in), created empty on open in an older
#: file or lake: every device of an older store reports WGS-84, as it did.
#: Also 5: ``pings.sat`` and ``pings.alarm`` (JT/T 808 satellites and alarm flags), added
#: (NULL in every older row) by an ALTER on open of an older file or lake; and
#: ``device_commands`` (commands to devices and their outcomes), created empty.
SCHEMA_VERSION = 5

TS_UNIT: Literal["us"] = "us"

#: The SQL types the tables use and the polars type each one reads and writes as.
SQL_TO_POLARS: dict[str, pl.DataType] = {
    "VARCHAR": pl.String(),
    "DATE": pl.Date(),
    "BLOB": pl.Binary(),
    "BOOLEAN": pl.Boolean(),
    "UTINYINT": pl.UInt8(),
    "INTEGER": pl.Int32(),
    "BIGINT": pl.Int64(),
    "REAL": pl.Float32(),
    "DOUBLE": pl.Float64(),
    "TIMESTAMPTZ": pl.Datetime(TS_UNIT, "UTC"),
}


@dataclass(frozen=True)
class Column:
    name: str
    sql: str  # a key of SQL_TO_POLARS
    help: str
    nullable: bool = True
    constraint: str = ""  # e.g. "PRIMARY KEY", "CHECK (...)"
    numpy: str = ""  # numpy dtype of ingest's column buffer ("O": strings); pings only

    @property
    def polars(self) -> pl.DataType:
        return SQL_TO_POLARS[self.sql]

    @property
    def ddl(self) -> str:
        parts = [self.name, self.sql]
        if not self.nullable:
            parts.append("NOT NULL")
        if self.constraint:
            parts.append(self.constraint)
        return " ".join(parts)


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    help: str

    @property
    def ddl(self) -> str:
        body = ",\n    ".join(c.ddl for c in self.columns)
        return f"CREATE TABLE IF NOT EXISTS {self.name} (\n    {body}\n);"

    @property
    def schema(self) -> pl.Schema:
        return pl.Schema({c.name: c.polars for c in self.columns})

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def empty(self) -> pl.DataFrame:
        return pl.DataFrame(schema=self.schema)


PING_COLUMNS: tuple[Column, ...] = (
    Column("device_id", "VARCHAR", "device id from the topic", False, numpy="O"),
    Column("ts", "TIMESTAMPTZ", "fix time", False, numpy="f8"),
    Column("lat", "DOUBLE", "WGS84 latitude, degrees", False, numpy="f8"),
    Column("lon", "DOUBLE", "WGS84 longitude, degrees", False, numpy="f8"),
    Column("acc", "REAL", "horizontal accuracy, m", numpy="f4"),
    Column("spd", "REAL", "speed over ground, m/s", numpy="f4"),
    Column("hdg", "REAL", "heading, degrees from north", numpy="f4"),
    Column("alt", "REAL", "altitude, m", numpy="f4"),
    Column("bat", "REAL", "battery, %", numpy="f4"),
    Column("flags", "UTINYINT", "bit 1: poor accuracy, bit 2: speed outlier", False, numpy="u1"),
    Column("grid_id", "VARCHAR", "leaf grid holding the fix, NULL outside all", numpy="O"),
    Column("sent_at", "TIMESTAMPTZ", "device send time, if given", numpy="f8"),
    Column("received_at", "TIMESTAMPTZ", "arrival time", False, numpy="f8"),
    # added in version 5, so last: ALTER TABLE appends them to an older file's table
    Column("sat", "UTINYINT", "GNSS satellites of the fix (0: the tracker had no fix)", numpy="f4"),
    Column("alarm", "BIGINT", "JT/T 808 alarm flags (DWORD) of the fix", numpy="f8"),
)

SCHEMA_VERSION_TABLE = Table(
    "schema_version",
    (Column("version", "INTEGER", "the schema version of the file", False),),
    "one row: the schema version this file was created with",
)
PINGS = Table("pings", PING_COLUMNS, "one row per stored fix; (device_id, ts) is unique")
REJECTED = Table(
    "rejected",
    (
        Column("topic", "VARCHAR", "the message's topic", False),
        Column(
            "payload", "BLOB", "the payload's first 1 KiB (a SHA-256 of it all in detail)", False
        ),
        Column("item", "INTEGER", "index in an array payload of the first rejected ping", False),
        Column("reason", "VARCHAR", "reason code (docs/mqtt.md)", False),
        Column("detail", "VARCHAR", "what was wrong", False),
        Column("received_at", "TIMESTAMPTZ", "arrival time", False),
    ),
    "one row per message with rejected pings (counted in pings by counters)",
)
COUNTERS = Table(
    "counters",
    (
        Column(
            "name",
            "VARCHAR",
            "received, stored, duplicates, rejected.<reason>, ...",
            False,
            "PRIMARY KEY",
        ),
        Column("value", "BIGINT", "the count", False),
    ),
    "ingest counters, updated in the transaction of the rows they count",
)
#: What a device is (the ``kind`` column of ``devices``): an e-bike's GPS tracker or a phone.
DeviceKind = Literal["tracker", "phone"]
DEVICE_KINDS: tuple[str, ...] = get_args(DeviceKind)

DEVICES = Table(
    "devices",
    (
        Column("device_id", "VARCHAR", "the device", False, "PRIMARY KEY"),
        Column(
            "kind", "VARCHAR", "tracker or phone", False, "CHECK (kind IN ('tracker', 'phone'))"
        ),
        Column("worker", "VARCHAR", "the worker carrying it"),
        Column("grid_id", "VARCHAR", "the assigned grid, a leaf or a parent"),
    ),
    "the device registry, imported from a CSV",
)
DEVICE_DATUMS = Table(
    "device_datums",
    (
        Column("device_id", "VARCHAR", "the device", False, "PRIMARY KEY"),
        Column(
            "datum",
            "VARCHAR",
            "wgs84, gcj02 or bd09: what its pings are in (stored as WGS-84)",
            False,
            "CHECK (datum IN ('wgs84', 'gcj02', 'bd09'))",
        ),
    ),
    "the datum of each imported device's pings (a device absent here reports WGS-84)",
)
DEVICE_EVENTS = Table(
    "device_events",
    (
        Column("device_id", "VARCHAR", "the device", False),
        Column("event", "VARCHAR", "the OwnTracks _type", False),
        Column("received_at", "TIMESTAMPTZ", "arrival time", False),
    ),
    "non-location OwnTracks messages",
)
GRIDS = Table(
    "grids",
    (
        Column("grid_id", "VARCHAR", "the grid", False, "PRIMARY KEY"),
        Column("position", "INTEGER", "file order", False),
        Column("name", "VARCHAR", "display name"),
        Column("parent", "VARCHAR", "the parent grid, NULL at the top"),
        Column("is_leaf", "BOOLEAN", "no grid names it as parent", False),
        Column("interval_s", "INTEGER", "longest allowed gap between visits, s", False),
        Column("service_hours", "VARCHAR", "HH:MM-HH:MM, NULL: all day"),
        Column("geometry", "VARCHAR", "GeoJSON geometry text ('null' for none)", False),
    ),
    "the imported grids, replaced whole by each import",
)
ALERTS = Table(
    "alerts",
    (
        Column("alert_id", "VARCHAR", "kind:subject:time", False, "PRIMARY KEY"),
        Column("kind", "VARCHAR", "an AlertKind", False),
        Column("grid_id", "VARCHAR", "the grid, for grid alerts"),
        Column("device_id", "VARCHAR", "the device, for device alerts"),
        Column("ts", "TIMESTAMPTZ", "when the condition began", False),
        Column("raised_at", "TIMESTAMPTZ", "when gridpatrol raised it", False),
        Column("detail", "VARCHAR", "a line for people", False),
    ),
    "the alert history",
)
ALERTS_PUBLISHED = Table(
    "alerts_published",
    (
        Column("alert_id", "VARCHAR", "an alert of ``alerts``", False),
        Column("published_at", "TIMESTAMPTZ", "when the broker had acknowledged it", False),
    ),
    "append-only: the alerts published on MQTT (an id may appear more than once)",
)
ACCESS_LOG = Table(
    "access_log",
    (
        Column("ts", "TIMESTAMPTZ", "when the request came", False),
        Column("token", "VARCHAR", "the token's name (never the token); NULL: no valid token"),
        Column("token_id", "VARCHAR", "the token's id in the tokens file; NULL: none"),
        Column("role", "VARCHAR", "the token's role; 'local' without --tokens"),
        Column("method", "VARCHAR", "the HTTP method", False),
        Column("route", "VARCHAR", "the route, e.g. /api/v1/devices/{device_id}/track", False),
        Column("params", "VARCHAR", "the route's declared parameters as JSON", False),
        Column("client", "VARCHAR", "the client's address as the server saw it"),
        Column("status", "INTEGER", "the HTTP status answered", False),
    ),
    "append-only: every read of a track, the positions, an export or a report (the API's)",
)
ALERT_ACKS = Table(
    "alert_acks",
    (
        Column("alert_id", "VARCHAR", "an alert of ``alerts``", False),
        Column("acked_at", "TIMESTAMPTZ", "when the operator acknowledged it", False),
        Column("operator", "VARCHAR", "the token's name ('local' without --tokens)", False),
        Column("note", "VARCHAR", "the operator's note (may be empty)", False),
    ),
    "append-only: operators' acknowledgements of alerts (the first of an alert counts)",
)

TERMINALS = Table(
    "terminals",
    (
        Column(
            "phone",
            "VARCHAR",
            "the terminal phone number's digits, leading zeros removed",
            False,
            "PRIMARY KEY",
        ),
        Column("terminal_id", "VARCHAR", "the maker's terminal id (0x0100), empty: any", False),
        Column("plate", "VARCHAR", "the vehicle's plate (0x0100), empty: any", False),
        Column("device_id", "VARCHAR", "the device its fixes are published as", False),
        Column("auth_code", "VARCHAR", "the code issued at its registration, NULL: none yet"),
        Column("registered_at", "TIMESTAMPTZ", "when the code was issued"),
        Column("imported_at", "TIMESTAMPTZ", "when its row was last imported", False),
    ),
    "the JT/T 808 terminal registry: who may register with the gateway, and the codes issued",
)
TERMINAL_EVENTS = Table(
    "terminal_events",
    (
        Column("phone", "VARCHAR", "a terminal of ``terminals``", False),
        Column("event", "VARCHAR", "imported, registered or reset", False),
        Column("event_at", "TIMESTAMPTZ", "when", False),
        Column("detail", "VARCHAR", "a line for people (who reset it, why)", False),
    ),
    "append-only: each terminal's imports, registrations and operator resets",
)

ROSTERS = Table(
    "rosters",
    (
        Column("entry", "INTEGER", "the row's number in the roster (its shifts' key)", False),
        Column("worker", "VARCHAR", "the worker on duty", False),
        Column("device_id", "VARCHAR", "the device the worker carries", False),
        Column("grid_id", "VARCHAR", "the assigned grid, a leaf or a parent", False),
        Column("day", "DATE", "the one day of a dated row; NULL for a weekly pattern"),
        Column("days", "VARCHAR", "a weekly pattern (docs/rules.md, Rosters); NULL when dated"),
        Column("valid_from", "DATE", "first day of the pattern (or the dated day)", False),
        Column("valid_to", "DATE", "last day of the pattern, inclusive (or the dated day)", False),
        Column("source", "VARCHAR", "file and line the row came from", False),
    ),
    "the roster (排班): replaced whole by each import",
)
ROSTER_SHIFTS = Table(
    "roster_shifts",
    (
        Column("entry", "INTEGER", "the row of ``rosters``", False),
        Column("start_s", "INTEGER", "shift start, seconds after the day's local midnight", False),
        Column(
            "end_s", "INTEGER", "shift end, s after that midnight (past 86,400: overnight)", False
        ),
    ),
    "each roster row's shift periods of a day",
)
CALENDAR_DAYS = Table(
    "calendar_days",
    (
        Column("day", "DATE", "the day", False, "PRIMARY KEY"),
        Column("kind", "VARCHAR", "holiday or workday", False),
    ),
    "the State Council's holidays and make-up working days; a year listed is a year known",
)
DEVICE_COMMANDS = Table(
    "device_commands",
    (
        Column("command_id", "VARCHAR", "the command's id (random)", False),
        Column("device_id", "VARCHAR", "the device commanded", False),
        Column("action", "VARCHAR", "locate, track, interval or text", False),
        Column("params", "VARCHAR", "the command as sent (JSON)", False),
        Column("requested_by", "VARCHAR", "the token's name ('' without tokens)", False),
        Column("rollcall", "VARCHAR", "the grid of the roll call it was part of, or NULL"),
        Column("sent_at", "TIMESTAMPTZ", "when serve sent it", False),
        Column("ended_at", "TIMESTAMPTZ", "when its outcome came (or the wait ended)", False),
        Column("status", "VARCHAR", "answered, timeout, offline or unsupported", False),
        Column("result", "INTEGER", "the device's result (0: done), when answered"),
        Column("ts", "TIMESTAMPTZ", "the fix a locate was answered with"),
        Column("lat", "DOUBLE", "its latitude"),
        Column("lon", "DOUBLE", "its longitude"),
        Column("detail", "VARCHAR", "a line for people", False),
    ),
    "append-only: one row per command to a device, written when it ended",
)

PING_CHANGES = Table(
    "ping_changes",
    (
        Column(
            "quarter",
            "BIGINT",
            "quarter-hour of fix time: epoch microseconds // 900e6",
            False,
            "PRIMARY KEY",
        ),
        Column("changes", "BIGINT", "pings stored (or removed) with a fix time in it", False),
    ),
    "written with the pings: a derived day is current while these sums over it are unchanged",
)
DERIVED_DAYS = Table(
    "derived_days",
    (
        Column(
            "day", "DATE", "the service day, in the deployment's time zone", False, "PRIMARY KEY"
        ),
        Column("through", "TIMESTAMPTZ", "the facts are of [the day's start, through)", False),
        Column("fingerprint", "VARCHAR", "grids and settings the facts were derived with", False),
        Column(
            "changes", "BIGINT", "ping_changes summed over the day's quarters when derived", False
        ),
        Column("derived_at", "TIMESTAMPTZ", "when", False),
    ),
    "the days whose patrol facts are derived (docs/storage.md, derived data)",
)
_ACROSS = Column("across", "BOOLEAN", "from segments across the day's end midnight", False)
DERIVED_VISITS = Table(
    "derived_visits",
    (
        Column("day", "DATE", "the day", False),
        Column("grid_id", "VARCHAR", "the leaf grid", False),
        Column("first_ts", "DOUBLE", "first visit of the run, epoch seconds", False),
        Column("last_ts", "DOUBLE", "last visit of the run, epoch seconds", False),
        Column("visits", "INTEGER", "visits in the run", False),
        Column("max_inner_s", "DOUBLE", "largest gap between visits inside the run, s", False),
        _ACROSS,
    ),
    "runs of visits inside service time, no gap in a run over the grid's interval",
)
DERIVED_TIME = Table(
    "derived_time",
    (
        Column("day", "DATE", "the day", False),
        Column("device_id", "VARCHAR", "the device", False),
        Column("grid_id", "VARCHAR", "the leaf holding the fixes, NULL outside all"),
        Column("fix_us", "BIGINT", "fix time, microseconds", False),
        _ACROSS,
    ),
    "per device and leaf, the time its usable fixes stand for (presence)",
)
DERIVED_CELLS = Table(
    "derived_cells",
    (
        Column("day", "DATE", "the day", False),
        Column("device_id", "VARCHAR", "the device", False),
        Column("cell", "INTEGER", "a coverage cell of some leaf (derived_grid_cells)", False),
        _ACROSS,
    ),
    "per device, the coverage cells its track passed within reach of",
)
DERIVED_GRID_CELLS = Table(
    "derived_grid_cells",
    (
        Column("fingerprint", "VARCHAR", "as derived_days", False),
        Column("grid_id", "VARCHAR", "the leaf grid", False),
        Column("cell", "INTEGER", "one of its coverage cells, a raster index", False),
    ),
    "each leaf's coverage cells, in leaf order, for reports that read no geometry",
)

#: The derived patrol data, rebuilt from ``pings`` (``gridpatrol derive``).
DERIVED_TABLES: tuple[Table, ...] = (
    DERIVED_DAYS,
    DERIVED_VISITS,
    DERIVED_TIME,
    DERIVED_CELLS,
    DERIVED_GRID_CELLS,
)

ALL_TABLES: tuple[Table, ...] = (
    SCHEMA_VERSION_TABLE,
    PINGS,
    REJECTED,
    COUNTERS,
    DEVICES,
    DEVICE_DATUMS,
    DEVICE_EVENTS,
    GRIDS,
    ALERTS,
    ALERTS_PUBLISHED,
    ALERT_ACKS,
    PING_CHANGES,
    *DERIVED_TABLES,
    TERMINALS,
    TERMINAL_EVENTS,
    ACCESS_LOG,
    ROSTERS,
    ROSTER_SHIFTS,
    CALENDAR_DAYS,
    DEVICE_COMMANDS,
)

#: The DDL the store applies on open.
TABLES = "\n".join(t.ddl for t in ALL_TABLES)
