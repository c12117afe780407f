"""Presence (到位率): the share of a device's fix time spent inside its assigned grid."""

from __future__ import annotations

import numpy as np

from geofence.fixes import Fixes
from geofence.grids import GridSet


def presence_rows(
    grid_set: GridSet, fixes: Fixes, assigned: dict[str, str], end: float, segment_max_s: float
) -> list[dict[str, object]]:
    """Each usable fix at t stands for [t, min(next fix, t + segment_max_s, end)).

    presence = time of fixes inside the assigned grid (or one of its leaves) / time of all.
    """
    n = len(fixes)
    nxt = np.full(n, np.inf)
    if n > 1:
        same = fixes.device[1:] == fixes.device[:-1]
        nxt[:-1] = np.where(same, fixes.ts[1:], np.inf)
    stop = np.minimum(np.minimum(nxt, fixes.ts + segment_max_s), end)
    duration = np.maximum(0.0, stop - fixes.ts)
    bounds = np.searchsorted(fixes.device, np.arange(len(fixes.devices) + 1))
    rows: list[dict[str, object]] = []
    for d, device_id in enumerate(fixes.devices):
        grid_id = assigned.get(device_id)
        if grid_id is None or grid_id not in grid_set.by_id:
            continue
        leaves = grid_set.tree.positions_under[grid_id]
        a, b = int(bounds[d]), int(bounds[d + 1])
        total = float(duration[a:b].sum())
        inside = float(duration[a:b][np.isin(fixes.grid[a:b], leaves)].sum())
        rows.append(
            {
                "device_id": device_id,
                "grid_id": grid_id,
                "presence": round(inside / total, 6) if total > 0 else None,
            }
        )
    return rows
