"""Numba kernels of the fix flags (ingest and the stage): flat arrays in, caller-allocated
arrays out."""

from __future__ import annotations

import numpy as np
from numba import njit

EARTH_RADIUS_M = 6371008.8


@njit(cache=True)
def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1 = np.radians(lat1)
    p2 = np.radians(lat2)
    dp = p2 - p1
    dl = np.radians(lon2 - lon1)
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2.0 * EARTH_RADIUS_M * np.arcsin(np.sqrt(min(1.0, a)))


@njit(cache=True)
def flag_fixes(
    device: np.ndarray,
    ts: np.ndarray,
    lat: np.ndarray,
    lon: np.ndarray,
    acc: np.ndarray,
    prev_ts: np.ndarray,
    prev_lat: np.ndarray,
    prev_lon: np.ndarray,
    max_acc: float,
    max_speed: float,
    flags: np.ndarray,
) -> None:
    """Flag rows sorted by (device, ts): bit 1 poor accuracy, bit 2 implied speed outlier.

    ``prev_*`` hold, per device code, the last unflagged fix stored before this batch
    (NaN when unknown); they are updated in place as the batch is walked.
    """
    for i in range(len(ts)):
        d = device[i]
        f = 0
        if acc[i] > max_acc:  # NaN (no accuracy given) compares false: not flagged
            f |= 1
        if not np.isnan(prev_ts[d]):
            dt = ts[i] - prev_ts[d]
            dist = haversine_m(prev_lat[d], prev_lon[d], lat[i], lon[i])
            # same-second fixes count as one second apart, so a jump is still caught
            if dist / max(dt, 1.0) > max_speed:
                f |= 2
        flags[i] = f
        if f == 0:
            prev_ts[d] = ts[i]
            prev_lat[d] = lat[i]
            prev_lon[d] = lon[i]
