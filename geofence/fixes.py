"""Usable fixes of a window, as flat arrays sorted by (device, ts)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from geofence.grids import GridSet


@dataclass(frozen=True)
class Fixes:
    devices: list[str]  # device names; ``device`` holds indices into it
    device: np.ndarray  # int64
    ts: np.ndarray  # epoch seconds
    lon: np.ndarray
    lat: np.ndarray
    grid: np.ndarray  # int32 leaf index, -1 outside

    def __len__(self) -> int:
        return len(self.ts)

    def take(self, rows: np.ndarray) -> Fixes:
        """These rows (indices or a mask), keeping the device names and their order."""
        return Fixes(
            devices=self.devices,
            device=np.ascontiguousarray(self.device[rows]),
            ts=np.ascontiguousarray(self.ts[rows]),
            lon=np.ascontiguousarray(self.lon[rows]),
            lat=np.ascontiguousarray(self.lat[rows]),
            grid=np.ascontiguousarray(self.grid[rows]),
        )


def make_fixes(
    grid_set: GridSet, device_ids: list[str], ts: np.ndarray, lon: np.ndarray, lat: np.ndarray
) -> Fixes:
    """Sort by (device, ts) and assign grids."""
    names, codes = np.unique(np.asarray(device_ids, dtype=object).astype(str), return_inverse=True)
    order = np.lexsort((ts, codes))
    lon = np.ascontiguousarray(lon[order], dtype=np.float64)
    lat = np.ascontiguousarray(lat[order], dtype=np.float64)
    return Fixes(
        devices=[str(n) for n in names],
        device=np.ascontiguousarray(codes[order], dtype=np.int64),
        ts=np.ascontiguousarray(ts[order], dtype=np.float64),
        lon=lon,
        lat=lat,
        grid=_assign(grid_set, lon, lat),
    )


def fixes_from_frame(grid_set: GridSet, frame: pl.DataFrame) -> Fixes:
    """Fixes from a frame already sorted by (device_id, ts) with columns device_id, us (fix
    time, epoch microseconds), lon, lat; grids assigned here."""
    runs = frame["device_id"].rle_id()
    lon = np.ascontiguousarray(frame["lon"].to_numpy(), dtype=np.float64)
    lat = np.ascontiguousarray(frame["lat"].to_numpy(), dtype=np.float64)
    return Fixes(
        devices=frame["device_id"].unique(maintain_order=True).to_list(),
        device=np.ascontiguousarray(runs.to_numpy(), dtype=np.int64),
        ts=np.ascontiguousarray(frame["us"].to_numpy(), dtype=np.float64) / 1e6,
        lon=lon,
        lat=lat,
        grid=_assign(grid_set, lon, lat),
    )


def _assign(grid_set: GridSet, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    from geofence.assign import (
        assign,  # a kernel module: loaded where it runs (geofence/__init__.py)
    )

    return assign(grid_set, lon, lat)
