"""Every device's newest usable fix, as GET /devices shows it: from live state, no scan.

The live state keeps each device's newest usable fix (time, position, leaf), loaded at start
from storage and moved on by every committed batch (:mod:`patrol.live`); joined here with the
registry, a request costs the devices, not the pings stored. Where there is no live state (no
grids, a standby stage, an ingest worker) :func:`stored_positions` scans ``pings`` instead:
the same rows, every device offline.

The two agree on what storage holds but for one case: a late fix that changes the flags of
newer stored fixes (an implausible speed seen only once the late fix is in) changes them in
storage only, and the live state keeps the newest fix it took (patrol/updater.py).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import NamedTuple

from patrol.live import LiveSnapshot
from tracks.devices import read_device_positions, read_devices
from tracks.store import Store


class Registered(NamedTuple):
    """One row of the device registry."""

    device_id: str
    kind: str | None
    worker: str | None
    grid_id: str | None  # assigned


class Position(NamedTuple):
    """A device, registered or heard from, with its newest usable fix (None: never heard)."""

    device_id: str
    kind: str | None
    worker: str | None
    assigned_grid: str | None
    last_seen: float | None  # epoch seconds
    lat: float | None
    lon: float | None
    current_grid: str | None  # the leaf of the newest fix
    online: bool


def read_registry(store: Store) -> tuple[Registered, ...]:
    """The registry, by device id."""
    frame = read_devices(store).select("device_id", "kind", "worker", "grid_id")
    return tuple(Registered(*row) for row in frame.iter_rows())


def live_positions(snapshot: LiveSnapshot, registry: Sequence[Registered]) -> list[Position]:
    """Every registered or heard-from device by device id, its fix from live state."""
    fixes = snapshot.last_fix
    leaves = snapshot.grid_ids
    offline = snapshot.offline
    known = {r.device_id: r for r in registry}
    out = []
    for device_id in sorted(known.keys() | fixes.keys()):
        reg = known.get(device_id)
        kind, worker, assigned = (reg.kind, reg.worker, reg.grid_id) if reg else (None,) * 3
        fix = fixes.get(device_id)
        if fix is None:
            out.append(Position(device_id, kind, worker, assigned, None, None, None, None, False))
            continue
        out.append(
            Position(
                device_id,
                kind,
                worker,
                assigned,
                fix.ts,
                fix.lat,
                fix.lon,
                leaves[fix.grid] if fix.grid >= 0 else None,
                device_id not in offline,
            )
        )
    return out


def stored_positions(store: Store) -> list[Position]:
    """:func:`live_positions` by a scan of ``pings`` (a group-by over every usable fix):
    where no live state runs. Every device is offline (no live state says otherwise)."""
    return [
        Position(device_id, kind, worker, grid, _epoch(ts), lat, lon, current, False)
        for device_id, kind, worker, grid, ts, lat, lon, current in (
            read_device_positions(store).iter_rows()
        )
    ]


def _epoch(ts: dt.datetime | None) -> float | None:
    return ts.timestamp() if ts is not None else None
