"""The DuckDB tables: a public interface that users query with SQL (see docs/storage.md).

Bump :data:`SCHEMA_VERSION` (and teach :mod:`tracks.store` the migration) on every change.
"""

from __future__ import annotations

from ingest.schema import PING_COLUMNS

SCHEMA_VERSION = 1

_ping_columns = ",\n    ".join(f"{c.name} {c.sql}" for c in PING_COLUMNS)

TABLES = f"""
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS pings (
    {_ping_columns}
);
CREATE TABLE IF NOT EXISTS rejected (
    topic VARCHAR NOT NULL,
    payload BLOB NOT NULL,
    item INTEGER NOT NULL,
    reason VARCHAR NOT NULL,
    detail VARCHAR NOT NULL,
    received_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE IF NOT EXISTS counters (
    name VARCHAR PRIMARY KEY,
    value BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS devices (
    device_id VARCHAR PRIMARY KEY,
    kind VARCHAR NOT NULL CHECK (kind IN ('tracker', 'phone')),
    worker VARCHAR,
    grid_id VARCHAR
);
CREATE TABLE IF NOT EXISTS device_events (
    device_id VARCHAR NOT NULL,
    event VARCHAR NOT NULL,
    received_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE IF NOT EXISTS grids (
    grid_id VARCHAR PRIMARY KEY,
    position INTEGER NOT NULL,
    name VARCHAR,
    parent VARCHAR,
    is_leaf BOOLEAN NOT NULL,
    interval_s INTEGER NOT NULL,
    service_hours VARCHAR,
    geometry VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS alerts (
    alert_id VARCHAR PRIMARY KEY,
    kind VARCHAR NOT NULL,
    grid_id VARCHAR,
    device_id VARCHAR,
    ts TIMESTAMPTZ NOT NULL,
    raised_at TIMESTAMPTZ NOT NULL,
    detail VARCHAR NOT NULL
);
"""
