"""Accuracy and implied-speed flags of fixes: a function of each device's set of fixes.

The definition (docs/rules.md, "Flags"): walk a device's fixes in fix-time order; a fix is
a speed outlier when its implied speed from the device's last good (unflagged) fix is above
the limit, where only a good fix at most ``PREVIOUS_FIX_LOOKBACK_S`` before it counts; the
accuracy bit is each fix's own: an ``acc`` above the limit, or (a JT/T 808 fix carries no
accuracy) fewer than ``MIN_SATELLITES`` satellites, 0 for a fix without the positioned bit. Used where fixes are stored, in the write transaction, by
the one walk of ``tracks.reflag`` (ingest's writer, ``tracks.writer.PingWriter``, and the
lake's stage role, each range of the change feed, ``tracks.changefeed.complete_range``).
Fresh fixes (newer than every stored fix of their device) are walked on from the device's
last good fix (:meth:`FixFlagger.flag_fresh`: remembered, or read by the walk for the
devices :meth:`FixFlagger.unremembered` names); a late fix re-walks the stored fixes after
it (:meth:`FixFlagger.rewalk`). Pure: the stored fixes come in as frames.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

import numpy as np
import polars as pl

from geofence._flags import flag_fixes, rewalk_fixes

#: How far back a fix's predecessor may be: an older good fix does not count (so one day's
#: silence starts the speed check afresh), and the storage lookup looks no further.
PREVIOUS_FIX_LOOKBACK_S = 86400.0

#: (device names, each one's first fix time in the batch, epoch s) -> rows of
#: (device, ts, lat, lon): each device's last unflagged stored fix before that time. Only
#: for flagging outside a write (tests): the write's walk hands these in as a frame.
PreviousFixes = Callable[[list[str], np.ndarray], list[tuple[str, float, float, float]]]


#: A fix of fewer GNSS satellites is poor, like one of a poor ``acc``: four fix a position
#: in three dimensions and the receiver's clock; with three the receiver guesses its height.
MIN_SATELLITES = 4


def _accuracy(frame: pl.DataFrame) -> np.ndarray:
    """The ``acc`` the walk judges: infinite (poor) for a fix of too few satellites."""
    acc = _floats(frame["acc"])
    if "sat" not in frame.columns:
        return acc
    few = (frame["sat"] < MIN_SATELLITES).fill_null(False).to_numpy()
    return np.ascontiguousarray(np.where(few, np.inf, acc))


def _seconds(ts: pl.Series) -> np.ndarray:
    return np.ascontiguousarray(ts.dt.epoch("us").to_numpy() / 1e6, dtype=np.float64)


def _floats(column: pl.Series) -> np.ndarray:
    return np.ascontiguousarray(column.cast(pl.Float64).fill_null(np.nan).to_numpy())


class FixFlagger:
    """Flags a device's fixes in fix-time order; remembers each device's last good fix.

    One per writer (ingest's ``tracks.writer.PingWriter``, or the stage): the memory is of
    what that writer stored, so it is only asked in the write transaction. ``previous``,
    for flagging outside a write (tests), is asked for the last good fixes
    :meth:`flag_fresh` is not handed."""

    def __init__(
        self, max_acc_m: float, max_speed_mps: float, previous: PreviousFixes | None = None
    ) -> None:
        self.max_acc_m = max_acc_m
        self.max_speed_mps = max_speed_mps
        self.previous = previous
        self.lookback_s = PREVIOUS_FIX_LOOKBACK_S
        self._last_good: dict[str, tuple[float, float, float]] = {}

    def forget(self) -> None:
        """Forget every remembered last good fix (what was stored is in storage)."""
        self._last_good.clear()

    def _remembered(self, names: np.ndarray, first_ts: np.ndarray) -> np.ndarray:
        """(3, devices): the remembered last good fix (ts, lat, lon) of each device of
        ``names`` before its ``first_ts``, NaN where none is."""
        prev = np.full((3, len(names)), np.nan)
        for k, name in enumerate(names):
            cached = self._last_good.get(name)
            if cached is not None and cached[0] < first_ts[k]:
                prev[:, k] = cached
        return prev

    def unremembered(self, pings: pl.DataFrame) -> pl.DataFrame:
        """Of rows grouped by device and sorted by ts: the devices whose last good fix
        before their first row is not remembered, with that row's ts (device_id, ts)."""
        first = pings.select("device_id", "ts").unique("device_id", keep="first")
        prev = self._remembered(first["device_id"].to_numpy(), _seconds(first["ts"]))
        return first.filter(pl.Series(np.isnan(prev[0])))

    @property
    def _lookback_us(self) -> float:
        return self.lookback_s * 1e6

    def warm_up(self) -> None:
        """Load the compiled kernels now, not inside the first batch's latency."""
        one, nan = np.zeros(1), np.full(1, np.nan)
        flag_fixes(
            np.zeros(1, dtype=np.int64),
            one,
            one,
            one,
            one,
            nan.copy(),
            one.copy(),
            one.copy(),
            50.0,
            40.0,
            self._lookback_us,
            np.zeros(1, dtype=np.uint8),
        )
        rewalk_fixes(
            np.zeros(1, dtype=np.int64),
            one,
            one,
            one,
            one,
            np.zeros(1, dtype=np.uint8),
            np.ones(1, dtype=np.bool_),
            nan.copy(),
            one.copy(),
            one.copy(),
            one,
            50.0,
            40.0,
            self._lookback_us,
            np.zeros(1, dtype=np.uint8),
            np.zeros(1, dtype=np.bool_),
        )

    def flag(
        self,
        codes: np.ndarray,
        names: np.ndarray,
        ts: np.ndarray,
        lat: np.ndarray,
        lon: np.ndarray,
        acc: np.ndarray,
        previous: pl.DataFrame | None = None,
    ) -> np.ndarray:
        """Flags (uint8: bit 1 poor accuracy, bit 2 speed outlier) of rows sorted by
        (device code, ts), each newer than every stored fix of its device (or already
        stored); ``names[code]`` is each code's device. ``previous`` (device_id, ts as epoch
        s, lat, lon): the last good stored fix of devices whose one is not remembered
        (:meth:`unremembered`); without it they are asked of ``previous`` the callable."""
        n = len(ts)
        if n == 0:
            return np.zeros(0, dtype=np.uint8)
        first_ts = np.full(len(names), np.inf)
        np.minimum.at(first_ts, codes, ts)
        prev = self._remembered(names, first_ts)
        misses = np.flatnonzero(np.isnan(prev[0]))
        found: list[tuple[str, float, float, float]] = []
        if previous is not None:
            found = list(previous.select("device_id", "ts", "lat", "lon").iter_rows())
        elif misses.size and self.previous is not None:
            found = self.previous([str(names[k]) for k in misses], first_ts[misses])
        if found:
            position = {str(names[k]): int(k) for k in misses}
            for device, found_ts, found_lat, found_lon in found:
                at = position.get(device)
                if at is not None:
                    prev[:, at] = (found_ts, found_lat, found_lon)
        flags = np.zeros(n, dtype=np.uint8)
        flag_fixes(
            codes,
            ts,
            lat,
            lon,
            acc,
            prev[0],
            prev[1],
            prev[2],
            self.max_acc_m,
            self.max_speed_mps,
            self._lookback_us,
            flags,
        )
        for k, name in enumerate(names):
            if not np.isnan(prev[0, k]):
                cached = self._last_good.get(name)
                if cached is None or cached[0] < prev[0, k]:
                    self._last_good[name] = (
                        float(prev[0, k]),
                        float(prev[1, k]),
                        float(prev[2, k]),
                    )
        return flags

    def flag_fresh(self, pings: pl.DataFrame, previous: pl.DataFrame | None = None) -> np.ndarray:
        """:meth:`flag` of a frame (device_id, ts, lat, lon, acc, and sat if known) whose rows are grouped by
        device and sorted by ts within each."""
        if pings.height == 0:
            return np.zeros(0, dtype=np.uint8)
        codes = pings["device_id"].rle_id().to_numpy().astype(np.int64)
        names = pings["device_id"].unique(maintain_order=True).to_numpy()
        return self.flag(
            codes,
            names,
            _seconds(pings["ts"]),
            _floats(pings["lat"]),
            _floats(pings["lon"]),
            _accuracy(pings),
            previous,
        )

    def rewalk(
        self,
        new: pl.DataFrame,
        stored: pl.DataFrame,
        previous: pl.DataFrame,
        cut_short: Collection[str] = (),
    ) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """Flag late fixes together with the stored fixes after them.

        ``new``: fixes not stored yet (device_id, ts, lat, lon, acc, sat); ``stored``: the same
        devices' stored fixes from (at least) each one's first new fix on, with their
        ``flags``, none with the key of a new one; ``previous``: each device's last good
        stored fix before its first row of either (device_id, ts as epoch s, lat, lon; a
        device missing has none). Returns the new rows' flags, the stored rows' flags (in
        the frames' row orders) and the devices whose walk reached their last stored row
        without the chains meeting (walk those of ``cut_short``, the devices whose stored
        fixes given stop before their last, again with more). The remembered last good fix
        of a device walked to its end moves on; where the chains met it stays as it was.
        """
        if new.height == 0:
            return np.zeros(0, dtype=np.uint8), stored["flags"].to_numpy().copy(), []
        columns = ["device_id", "ts", "lat", "lon", "acc"]
        if "sat" in new.columns and "sat" in stored.columns:
            columns.append("sat")
        both = pl.concat(
            [
                new.select(columns).with_columns(
                    pl.lit(0, pl.UInt8).alias("old"), pl.lit(True).alias("new")
                ),
                stored.select(columns)
                .cast(new.select(columns).schema)
                .with_columns(
                    stored["flags"].cast(pl.UInt8).alias("old"), pl.lit(False).alias("new")
                ),
            ]
        ).with_row_index("row")
        both = both.sort("device_id", "ts", "row")
        names = both["device_id"].unique(maintain_order=True)
        codes = both["device_id"].rle_id().to_numpy().astype(np.int64)
        start = pl.DataFrame({"device_id": names}).join(
            previous.select("device_id", "ts", "lat", "lon"),
            on="device_id",
            how="left",
            maintain_order="left",
        )
        prev = [_floats(start[c]).copy() for c in ("ts", "lat", "lon")]
        last_new = (
            pl.DataFrame({"device_id": names})
            .join(
                new.group_by("device_id").agg(pl.col("ts").max()),
                on="device_id",
                how="left",
                maintain_order="left",
            )
            .select(pl.col("ts").dt.epoch("us") / 1e6)
            .to_series()
        )
        flags = np.zeros(both.height, dtype=np.uint8)
        settled = np.zeros(len(names), dtype=np.bool_)
        rewalk_fixes(
            codes,
            _seconds(both["ts"]),
            _floats(both["lat"]),
            _floats(both["lon"]),
            _accuracy(both),
            both["old"].to_numpy(),
            np.ascontiguousarray(both["new"].to_numpy()),
            prev[0],
            prev[1],
            prev[2],
            _floats(last_new),
            self.max_acc_m,
            self.max_speed_mps,
            self._lookback_us,
            flags,
            settled,
        )
        rows = both["row"].to_numpy()
        placed = np.empty(both.height, dtype=np.uint8)
        placed[rows] = flags
        device_names = names.to_list()
        unsettled = [device_names[k] for k in np.flatnonzero(~settled)]
        for k in np.flatnonzero(~settled):  # walked to the device's end: its last good fix
            name = device_names[k]
            if name in cut_short:  # not its end: walked again with the rest
                continue
            if np.isnan(prev[0][k]):
                self._last_good.pop(name, None)
            else:
                self._last_good[name] = (prev[0][k], prev[1][k], prev[2][k])
        return placed[: new.height], placed[new.height :], unsettled
