"""The worker-alert kernel: each rostered device's live state advanced by new fixes, in one
pass over flat arrays sorted by (slot, ts). geofence/workers.py prepares the arrays, keeps
the state and evaluates the conditions.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True)
def advance(
    slot: np.ndarray,  # int64 per fix, sorted with ts
    ts: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    shift_start: np.ndarray,  # per fix: start of the shift holding it (nan: in none)
    inside: np.ndarray,  # uint8 per fix: in the shift's grid
    near: np.ndarray,  # uint8 per fix: in the grid or within the tolerance buffer of it
    within_m: float,
    st_shift: np.ndarray,  # per slot: start of the shift the state below is about (nan: none)
    st_last: np.ndarray,  # newest fix in that shift (-inf: none)
    st_arrived: np.ndarray,  # first fix inside (inf: none)
    st_out: np.ndarray,  # first fix of the running stretch beyond the buffer (nan: none)
    st_anchor_ts: np.ndarray,  # first fix of the running stretch within ``within_m`` of it
    st_anchor_x: np.ndarray,
    st_anchor_y: np.ndarray,
    st_x: np.ndarray,  # the newest fix's position
    st_y: np.ndarray,
    st_speed: np.ndarray,  # speed from the fix before it to the newest, m/s (nan: one fix)
) -> None:
    for i in range(len(ts)):
        start = shift_start[i]
        if math.isnan(start):  # a fix in no shift of its device: no rule reads it
            continue
        s = slot[i]
        t = ts[i]
        if st_shift[s] != start:
            if not math.isnan(st_shift[s]) and start < st_shift[s]:
                continue  # a late fix of an earlier shift: that shift is over
            # the first fix of a newer shift: the state starts again
            st_shift[s] = start
            st_last[s] = -math.inf
            st_arrived[s] = math.inf
            st_out[s] = math.nan
            st_anchor_ts[s] = math.nan
            st_speed[s] = math.nan
        if inside[i] and t < st_arrived[s]:
            st_arrived[s] = t
        if t <= st_last[s]:
            continue  # a late fix of this shift: only its arrival counts
        if math.isfinite(st_last[s]):
            st_speed[s] = math.hypot(x[i] - st_x[s], y[i] - st_y[s]) / (t - st_last[s])
        st_last[s] = t
        st_x[s] = x[i]
        st_y[s] = y[i]
        if near[i]:
            st_out[s] = math.nan
        elif math.isnan(st_out[s]):
            st_out[s] = t
        dx = x[i] - st_anchor_x[s]
        dy = y[i] - st_anchor_y[s]
        # moved farther than the radius from the anchor (or no anchor yet): a new anchor
        if math.isnan(st_anchor_ts[s]) or dx * dx + dy * dy > within_m * within_m:
            st_anchor_ts[s] = t
            st_anchor_x[s] = x[i]
            st_anchor_y[s] = y[i]
