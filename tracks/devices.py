"""Named reads of the device registry (the ``devices`` table), as polars DataFrames."""

from __future__ import annotations

import polars as pl

from base.datum import Datum
from tracks.schema import DEVICES
from tracks.store import Store


def read_devices(store: Store, device_id: str | None = None) -> pl.DataFrame:
    """The registry (device_id, kind, worker, grid_id) by device id; one device's row (or
    none) with ``device_id``."""
    if device_id is None:
        frame = store.read("SELECT * FROM devices ORDER BY device_id")
    else:
        frame = store.read("SELECT * FROM devices WHERE device_id = ?", [device_id])
    return frame.cast(DEVICES.schema)


def read_assignments(store: Store) -> pl.DataFrame:
    """Devices with an assigned grid (device_id, worker, grid_id), by worker (nulls last)."""
    return store.read(
        "SELECT device_id, worker, grid_id FROM devices WHERE grid_id IS NOT NULL "
        "ORDER BY worker, device_id"
    )


def read_device_positions(store: Store) -> pl.DataFrame:
    """Every device, registered or heard from, with its newest usable fix, by device id.

    Columns: device_id, kind, worker, grid_id (assigned), ts, lat, lon, current_grid (the
    grid of the newest fix); a registered device never heard from has nulls for the fix.
    """
    return store.read(
        """
        WITH last AS (
            SELECT device_id, max(ts) AS ts, arg_max(lat, ts) AS lat,
                   arg_max(lon, ts) AS lon, arg_max([grid_id], ts)[1] AS current_grid
            FROM pings WHERE flags = 0 GROUP BY device_id
        )
        SELECT coalesce(d.device_id, l.device_id) AS device_id, d.kind, d.worker,
               d.grid_id, l.ts, l.lat, l.lon, l.current_grid
        FROM devices d FULL OUTER JOIN last l ON l.device_id = d.device_id
        ORDER BY 1
        """
    )


def read_device_datums(store: Store) -> dict[str, Datum]:
    """The devices whose pings are not WGS-84, with their datum (the rest report WGS-84)."""
    rows = store.read_rows("SELECT device_id, datum FROM device_datums WHERE datum <> 'wgs84'")
    return {device_id: Datum(datum) for device_id, datum in rows}
