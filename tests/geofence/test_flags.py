"""Speed flags in fix-time order per device, whatever order the fixes come in.

The track (one device, along a meridian, 40 m/s the limit; 1 m north is 1/111,195.08 of a
degree with the kernel's Earth radius):

======  =====  =========  =====================================  ===========================
fix     t, s   north, m   stored A, C, D, E (B not yet)          with B
======  =====  =========  =====================================  ===========================
A       0      0          good                                   good
B       10     -300       -                                      good: 300 m / 10 s = 30 m/s
C       20     700        good: 700 m / 20 s from A = 35 m/s     outlier: 1000 m / 10 s from B
D       30     800        good: 100 m / 10 s from C              outlier: 1100 m / 20 s from B
E       60     900        good: 100 m / 30 s from D              good: 1200 m / 50 s from B
======  =====  =========  =====================================  ===========================

B arrives last (a late upload): C and D flip, E is good under both chains (they meet), so
the walk stops there. Flagged in arrival order against the last good fix (the code before
this test), B would have been judged against E and C, D kept good.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from geofence.flags import PREVIOUS_FIX_LOOKBACK_S, FixFlagger

M_PER_DEG = 6371008.8 * np.pi / 180
T0 = dt.datetime(2026, 11, 20, 8, 0, tzinfo=dt.UTC)
TRACK = {"A": (0, 0), "B": (10, -300), "C": (20, 700), "D": (30, 800), "E": (60, 900)}


def fixes(names: str, device: str = "dev") -> pl.DataFrame:
    rows = [TRACK[n] for n in names]
    return pl.DataFrame(
        {
            "device_id": [device] * len(rows),
            "ts": [T0 + dt.timedelta(seconds=t) for t, _ in rows],
            "lat": [39.0 + m / M_PER_DEG for _, m in rows],
            "lon": [117.0] * len(rows),
            "acc": pl.Series([5.0] * len(rows), dtype=pl.Float32),
        }
    ).with_columns(pl.col("ts").dt.cast_time_unit("us"))


def flagger() -> FixFlagger:
    return FixFlagger(50.0, 40.0, lambda names, first_ts: [])


def previous(name: str) -> pl.DataFrame:
    t, m = TRACK[name]
    return pl.DataFrame(
        {
            "device_id": ["dev"],
            "ts": [T0.timestamp() + t],
            "lat": [39.0 + m / M_PER_DEG],
            "lon": [117.0],
        }
    )


def test_in_fix_time_order_all_at_once():
    assert flagger().flag_fresh(fixes("ABCDE")).tolist() == [0, 0, 2, 2, 0]
    assert flagger().flag_fresh(fixes("ACDE")).tolist() == [0, 0, 0, 0]


def test_a_late_fix_rewalks_the_stored_ones_until_the_chains_meet():
    stored = fixes("CDE").with_columns(flags=pl.lit(0, pl.UInt8))  # as flagged before B came
    new_flags, stored_flags, unsettled = flagger().rewalk(fixes("B"), stored, previous("A"))
    assert new_flags.tolist() == [0]
    assert stored_flags.tolist() == [2, 2, 0]
    assert unsettled == []  # the chains met at E
    # cut short before E: the chains have not met, the caller reads on
    _, cut_flags, unsettled = flagger().rewalk(fixes("B"), stored.head(2), previous("A"))
    assert cut_flags.tolist() == [2, 2] and unsettled == ["dev"]


def test_rows_after_the_meeting_keep_their_flags():
    """Past E the chains are the same: a stored row after it keeps its flags unread (here
    a deliberately wrong stored 2 shows it is left alone)."""
    stored = fixes("CDE").with_columns(flags=pl.Series([0, 0, 0], dtype=pl.UInt8))
    extra = pl.concat(
        [
            stored,
            stored.tail(1).with_columns(
                pl.col("ts") + dt.timedelta(seconds=5), flags=pl.lit(2, pl.UInt8)
            ),
        ]
    )
    _, stored_flags, _ = flagger().rewalk(fixes("B"), extra, previous("A"))
    assert stored_flags.tolist() == [2, 2, 0, 2]


def test_a_good_fix_more_than_the_lookback_before_is_no_predecessor():
    """A, then a fix 4,000 km north: exactly one lookback (86,400 s) later it is judged from
    A, 4,000,000 m / 86,400 s = 46.3 m/s, an outlier; one microsecond later A no longer
    counts (as a storage lookup bounded by the lookback would not find it): good."""
    lookback = dt.timedelta(seconds=PREVIOUS_FIX_LOOKBACK_S)
    near = fixes("A")
    for gap, want in ((lookback, 2), (lookback + dt.timedelta(microseconds=1), 0)):
        far = near.with_columns(pl.col("ts") + gap, pl.col("lat") + 4_000_000 / M_PER_DEG)
        assert flagger().flag_fresh(pl.concat([near, far])).tolist() == [0, want], gap


def test_too_few_satellites_is_a_poor_fix_like_a_poor_accuracy():
    """A (8 satellites) good; B (3) poor; C (0: a JT/T 808 fix without the positioned bit,
    at 0°, 0° as such trackers send it) poor and also a speed outlier from A, yet no chain
    breaks: D (no ``sat``, acc 5 m) is judged from A, 100 m in 30 s, good; E (4) good."""
    frame = fixes("ABCDE").with_columns(
        pl.Series("sat", [8, 3, 0, None, 4], dtype=pl.UInt8),
        pl.Series("lat", [39.0, 39.0, 0.0, 39.0 + 100 / M_PER_DEG, 39.0 + 200 / M_PER_DEG]),
        pl.Series("lon", [117.0, 117.0, 0.0, 117.0, 117.0]),
    )
    assert flagger().flag_fresh(frame).tolist() == [0, 1, 3, 0, 0]
    # the same fixes, C late: the re-walk judges satellites as the first walk does
    stored = frame.filter(pl.col("ts") != frame["ts"][2]).with_columns(
        pl.lit(0, pl.UInt8).alias("flags")
    )
    new, old, _ = flagger().rewalk(frame[2], stored, previous("A").clear())
    assert new.tolist() == [3]
    assert old.tolist() == [0, 1, 0, 0]
