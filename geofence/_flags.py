"""Numba kernels of the fix flags (ingest's commit and the stage): flat arrays in,
caller-allocated arrays out."""

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
def fix_flag(
    ts: float,
    lat: float,
    lon: float,
    acc: float,
    prev_ts: float,
    prev_lat: float,
    prev_lon: float,
    max_acc: float,
    max_speed: float,
    lookback_us: float,
) -> int:
    """One fix's flags against the last good fix before it (NaN: none)."""
    f = 0
    if acc > max_acc:  # NaN (no accuracy given) compares false: not flagged
        f |= 1
    # a predecessor more than the lookback before does not count (as a storage lookup
    # bounded by it would not find it); compared in whole microseconds, as SQL compares
    if not np.isnan(prev_ts) and np.round((ts - prev_ts) * 1e6) <= lookback_us:
        dt = ts - prev_ts
        dist = haversine_m(prev_lat, prev_lon, lat, lon)
        # same-second fixes count as one second apart, so a jump is still caught
        if dist / max(dt, 1.0) > max_speed:
            f |= 2
    return f


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
    lookback_us: float,
    flags: np.ndarray,
) -> None:
    """Flag rows sorted by (device, ts): bit 1 poor accuracy, bit 2 implied speed outlier.

    ``prev_*`` hold, per device code, the last unflagged fix stored before this batch
    (NaN when unknown); they are updated in place as the batch is walked.
    """
    for i in range(len(ts)):
        d = device[i]
        f = fix_flag(
            ts[i],
            lat[i],
            lon[i],
            acc[i],
            prev_ts[d],
            prev_lat[d],
            prev_lon[d],
            max_acc,
            max_speed,
            lookback_us,
        )
        flags[i] = f
        if f == 0:
            prev_ts[d] = ts[i]
            prev_lat[d] = lat[i]
            prev_lon[d] = lon[i]


@njit(cache=True)
def rewalk_fixes(
    device: np.ndarray,
    ts: np.ndarray,
    lat: np.ndarray,
    lon: np.ndarray,
    acc: np.ndarray,
    old_flags: np.ndarray,
    is_new: np.ndarray,
    prev_ts: np.ndarray,
    prev_lat: np.ndarray,
    prev_lon: np.ndarray,
    last_new: np.ndarray,
    max_acc: float,
    max_speed: float,
    lookback_us: float,
    flags: np.ndarray,
    settled: np.ndarray,
) -> None:
    """Walk a device's stored fixes and new ones together, sorted by (device, ts).

    ``old_flags`` are the stored rows' flags (ignored for new rows, ``is_new``); ``prev_*``
    hold per device code the last good stored fix before its first row (NaN: none), the
    start of both chains, and end as the new chain's last good fix; ``last_new`` is each
    device's newest new fix. Once past it, a device whose new chain and old chain (the
    stored flags) have the same last good fix is settled (``settled[d]``): every later
    stored row keeps its flags, as both chains go on alike from there.
    """
    old_ts = prev_ts.copy()  # the old chain's last good fix, per device
    for i in range(len(ts)):
        d = device[i]
        if settled[d]:  # the chains met: later stored rows keep their flags
            flags[i] = old_flags[i]
            continue
        f = fix_flag(
            ts[i],
            lat[i],
            lon[i],
            acc[i],
            prev_ts[d],
            prev_lat[d],
            prev_lon[d],
            max_acc,
            max_speed,
            lookback_us,
        )
        flags[i] = f
        if f == 0:
            prev_ts[d] = ts[i]
            prev_lat[d] = lat[i]
            prev_lon[d] = lon[i]
        if not is_new[i] and old_flags[i] == 0:
            old_ts[d] = ts[i]
        if ts[i] >= last_new[d]:  # past every new fix: do the chains meet here?
            same = prev_ts[d] == old_ts[d] or (np.isnan(prev_ts[d]) and np.isnan(old_ts[d]))
            if same:
                settled[d] = True
