"""The attendance kernel: every worker-shift's figures in one pass over flat fix arrays.

Times are integer epoch microseconds, so the figures add up exactly in any order; x, y are
plane metres. geofence/attendance.py prepares the arrays and reads the results.
"""

from __future__ import annotations

import numpy as np
from numba import njit

#: Period kinds in the kernel's output.
OUT, SILENT = 1, 2


@njit(cache=True)
def _add_period(
    k: int,
    kind: int,
    a: int,
    b: int,
    count: int,
    p_shift: np.ndarray,
    p_kind: np.ndarray,
    p_start: np.ndarray,
    p_end: np.ndarray,
) -> int:
    # a period that starts where the last one of its shift and kind ended extends it
    if (
        count > 0
        and p_shift[count - 1] == k
        and p_kind[count - 1] == kind
        and p_end[count - 1] == a
    ):
        p_end[count - 1] = b
        return count
    p_shift[count] = k
    p_kind[count] = kind
    p_start[count] = a
    p_end[count] = b
    return count + 1


@njit(cache=True)
def shift_figures(
    ts: np.ndarray,
    leaf: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    start: np.ndarray,
    end: np.ndarray,
    target: np.ndarray,
    member: np.ndarray,
    seg_max: int,
    arrival: np.ndarray,
    departure: np.ndarray,
    inside: np.ndarray,
    outside: np.ndarray,
    mileage: np.ndarray,
    p_shift: np.ndarray,
    p_kind: np.ndarray,
    p_start: np.ndarray,
    p_end: np.ndarray,
) -> int:
    """For shift k, the fixes lo[k]..hi[k] (one device's, start[k] <= ts < end[k]): arrival
    and departure (first and last fix inside the target grid, -1: none), the time inside
    and outside it, the metres of its segments, and its out-of-grid and silent periods
    (written from index 0 on; returns how many)."""
    count = 0
    for k in range(len(lo)):
        s, e, t_row = start[k], end[k], target[k]
        cursor = s
        arrival[k] = -1
        departure[k] = -1
        ins = 0
        out = 0
        metres = 0.0
        for i in range(lo[k], hi[k]):
            t = ts[i]
            if t > cursor:  # no fix stands for [cursor, t): silent
                count = _add_period(k, SILENT, cursor, t, count, p_shift, p_kind, p_start, p_end)
            stop = min(t + seg_max, e)
            if i + 1 < hi[k]:
                stop = min(stop, ts[i + 1])
                dt = ts[i + 1] - t
                if dt > 0 and dt <= seg_max:  # a segment: both fixes in the shift
                    metres += np.hypot(x[i + 1] - x[i], y[i + 1] - y[i])
            in_grid = leaf[i] >= 0 and member[t_row, leaf[i]] != 0
            if in_grid:
                ins += stop - t
                if arrival[k] < 0:
                    arrival[k] = t
                departure[k] = t
            else:
                out += stop - t
                count = _add_period(k, OUT, t, stop, count, p_shift, p_kind, p_start, p_end)
            cursor = stop
        if cursor < e:  # after the last fix (or with none)
            count = _add_period(k, SILENT, cursor, e, count, p_shift, p_kind, p_start, p_end)
        inside[k] = ins
        outside[k] = out
        mileage[k] = metres
    return count
