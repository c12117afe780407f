"""Accuracy and implied-speed flags of fixes, against each device's last good fix.

Used by ingest (each batch as it is prepared) and by the lake's stage role (each range of
the change feed, in commit order, so that fixes of a device spread over several ingest
workers are flagged as one process would flag them). Pure: the stored fixes it may need come
through the ``previous`` callable.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from geofence._flags import flag_fixes

#: How far back the speed check looks in storage for a late fix's predecessor.
PREVIOUS_FIX_LOOKBACK_S = 86400.0

#: (device names, each one's first fix time in the batch, epoch s) -> rows of
#: (device, ts, lat, lon): each device's last unflagged stored fix before that time.
PreviousFixes = Callable[[list[str], np.ndarray], list[tuple[str, float, float, float]]]


class FixFlagger:
    """Flags rows sorted by (device, ts); remembers each device's last good fix."""

    def __init__(self, max_acc_m: float, max_speed_mps: float, previous: PreviousFixes) -> None:
        self.max_acc_m = max_acc_m
        self.max_speed_mps = max_speed_mps
        self.previous = previous
        self._last_good: dict[str, tuple[float, float, float]] = {}

    @staticmethod
    def warm_up() -> None:
        """Load the compiled kernel now, not inside the first batch's latency."""
        one = np.zeros(1)
        flag_fixes(np.zeros(1, dtype=np.int64), one, one, one, one, np.full(1, np.nan),
                   one.copy(), one.copy(), 50.0, 40.0, np.zeros(1, dtype=np.uint8))  # fmt: skip

    def flag(
        self,
        codes: np.ndarray,
        names: np.ndarray,
        ts: np.ndarray,
        lat: np.ndarray,
        lon: np.ndarray,
        acc: np.ndarray,
    ) -> np.ndarray:
        """Flags (uint8: bit 1 poor accuracy, bit 2 speed outlier) of rows sorted by
        (device code, ts); ``names[code]`` is each code's device."""
        n = len(ts)
        if n == 0:
            return np.zeros(0, dtype=np.uint8)
        first_ts = np.full(len(names), np.inf)
        np.minimum.at(first_ts, codes, ts)
        prev = np.full((3, len(names)), np.nan)
        misses: list[int] = []
        for k, name in enumerate(names):
            cached = self._last_good.get(name)
            if cached is not None and cached[0] < first_ts[k]:
                prev[:, k] = cached
            else:
                misses.append(k)
        if misses:
            position = {name: k for k, name in enumerate(names)}
            for device, found_ts, found_lat, found_lon in self.previous(
                [str(names[k]) for k in misses], first_ts[misses]
            ):
                prev[:, position[device]] = (found_ts, found_lat, found_lon)
        flags = np.zeros(n, dtype=np.uint8)
        flag_fixes(codes, ts, lat, lon, acc, prev[0], prev[1], prev[2], self.max_acc_m,
                   self.max_speed_mps, flags)  # fmt: skip
        for k, name in enumerate(names):
            if not np.isnan(prev[0, k]):
                cached = self._last_good.get(name)
                if cached is None or cached[0] < prev[0, k]:
                    self._last_good[name] = (prev[0, k], prev[1, k], prev[2, k])
        return flags
