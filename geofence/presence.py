"""Presence (到位率): the share of a device's fix time spent inside its assigned grid."""

from __future__ import annotations

import numpy as np

from geofence.fixes import Fixes
from geofence.grids import GridSet, Leaves


def to_us(seconds: np.ndarray | float) -> np.ndarray:
    """Epoch seconds (fix times read as microseconds / 1e6) back to integer microseconds:
    fix time is added up in whole microseconds, so sums are exact in any order."""
    return np.rint(np.asarray(seconds, dtype=np.float64) * 1e6).astype(np.int64)


def fix_time_us(device: np.ndarray, us: np.ndarray, end_us: int, segment_max_us: int) -> np.ndarray:
    """The time each fix stands for: [t, min(next fix of its device, t + segment_max, end))."""
    n = len(us)
    nxt = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
    if n > 1:
        same = device[1:] == device[:-1]
        nxt[:-1] = np.where(same, us[1:], nxt[:-1])
    stop = np.minimum(np.minimum(nxt, us + segment_max_us), end_us)
    return np.maximum(0, stop - us)


def presence_row(
    grid_set: Leaves, device_id: str, grid_id: str, leaf: np.ndarray, time_us: np.ndarray
) -> dict[str, object]:
    """presence = fix time inside the assigned grid (or one of its leaves) / all fix time."""
    total = int(time_us.sum())
    inside = int(time_us[np.isin(leaf, grid_set.tree.positions_under[grid_id])].sum())
    return {
        "device_id": device_id,
        "grid_id": grid_id,
        "presence": round(inside / total, 6) if total > 0 else None,
    }


def presence_rows(
    grid_set: GridSet, fixes: Fixes, assigned: dict[str, str], end: float, segment_max_s: float
) -> list[dict[str, object]]:
    """Each usable fix at t stands for [t, min(next fix, t + segment_max_s, end))."""
    duration = fix_time_us(
        fixes.device, to_us(fixes.ts), int(to_us(end)), int(to_us(segment_max_s))
    )
    bounds = np.searchsorted(fixes.device, np.arange(len(fixes.devices) + 1))
    rows: list[dict[str, object]] = []
    for d, device_id in enumerate(fixes.devices):
        grid_id = assigned.get(device_id)
        if grid_id is None or grid_id not in grid_set.by_id:
            continue
        a, b = int(bounds[d]), int(bounds[d + 1])
        rows.append(presence_row(grid_set, device_id, grid_id, fixes.grid[a:b], duration[a:b]))
    return rows
