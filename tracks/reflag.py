"""The walk: flagging fixes in fix-time order where they are stored (docs/rules.md, "Flags").

One walk, :func:`flag_rows`, for both writers of flags: a batch of ingest's
(:class:`tracks.writer.PingWriter`) and a range of the lake's change feed (the stage's,
:func:`tracks.changefeed.complete_range`), each in its write transaction, with a
:class:`Flagging` (``geofence.flags.FixFlagger``, built by the composition root: tracks
cannot import it). A device whose new fixes are all newer than its stored ones
(:class:`NewestFixes` tells, from memory) is flagged on from its last good fix: the flagger
remembers it, and the walk reads it (in the transaction) only for devices it does not. A
device with a late fix (a blind-area upload, another worker's commit) is re-walked
(:func:`rewalk_late`): its stored fixes from its first fix in the batch on are read and
walked again with the new ones until the old and the new chains meet; the stored rows whose
flags change are returned for the caller to update in the same transaction
(:func:`update_flags`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from typing import Protocol

import duckdb
import numpy as np
import polars as pl

from tracks.sql import select_with

#: The first read of a late device's stored fixes stops this long after its newest fix in
#: the batch: the chains meet within seconds to minutes of it (a good fix after the late
#: ones, or a jump's fixes once time makes up the distance). A device whose chains have
#: not met by then, and has stored fixes after it, is read again to its end.
WALK_AHEAD_S = 3600.0


class Flagging(Protocol):
    """What flags fixes (``geofence.flags.FixFlagger``), one per writer."""

    lookback_s: float  # a good fix further back than this is no fix's predecessor

    def unremembered(self, pings: pl.DataFrame) -> pl.DataFrame:
        """Of rows grouped by device and sorted by ts: the devices whose last good fix
        before their first row is not remembered, with that row's ts (device_id, ts)."""
        ...

    def flag_fresh(self, pings: pl.DataFrame, previous: pl.DataFrame | None = None) -> np.ndarray:
        """Flags of rows grouped by device and sorted by ts, each newer than every stored
        fix of its device; ``previous``: the last good stored fix (device_id, ts as epoch s,
        lat, lon) of the devices :meth:`unremembered` named that have one."""
        ...

    def rewalk(
        self,
        new: pl.DataFrame,
        stored: pl.DataFrame,
        previous: pl.DataFrame,
        cut_short: Collection[str] = (),
    ) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """Flags of late rows and of the stored rows after them; the devices walked to the
        last stored row given without the chains meeting (``cut_short``: devices with
        stored rows after those given)."""
        ...


def _rowid_bound(upto_rowid: int | None, alias: str = "p") -> str:
    # rows the stage has handled (a later range brings the others); an integer
    return "" if upto_rowid is None else f" AND {alias}.rowid <= {int(upto_rowid)}"


class NewestFixes:
    """Each device's newest stored fix (epoch microseconds): read once, then moved on by
    the one writer that owns it after each commit, so fresh fixes are told apart from late
    ones without reading stored rows."""

    def __init__(self) -> None:
        self._frame: pl.DataFrame | None = None  # device_id, newest

    def loaded(self) -> bool:
        return self._frame is not None

    def load(self, con: duckdb.DuckDBPyConnection, upto_rowid: int | None = None) -> None:
        where = "" if upto_rowid is None else f"WHERE rowid <= {int(upto_rowid)} "
        self._frame = (
            con.execute(
                f"SELECT device_id, epoch_us(max(ts)) AS newest FROM pings {where}"
                "GROUP BY device_id"
            )
            .pl()
            .cast({"newest": pl.Int64})
        )

    def newer(self, pings: pl.DataFrame) -> pl.Series:
        """Per row: newer than every stored fix of its device (load first)."""
        assert self._frame is not None
        return (
            pings.select(pl.col("device_id"), pl.col("ts").dt.epoch("us").alias("us"))
            .join(self._frame, on="device_id", how="left", maintain_order="left")
            .select((pl.col("newest").is_null() | (pl.col("us") > pl.col("newest"))).alias("new"))
            .to_series()
        )

    def of(self, devices: pl.Series) -> pl.Series:
        """The newest stored fix (epoch us) of each device, null when none."""
        assert self._frame is not None
        return pl.DataFrame({"device_id": devices}).join(
            self._frame, on="device_id", how="left", maintain_order="left"
        )["newest"]

    def advance(self, pings: pl.DataFrame) -> None:
        """After a commit every row of ``pings`` is stored: move the newest fixes on."""
        if pings.height == 0 or self._frame is None:
            return
        batch = pings.group_by("device_id").agg(pl.col("ts").max().dt.epoch("us").alias("newest"))
        self._frame = (
            pl.concat([self._frame, batch.cast({"newest": pl.Int64})])
            .group_by("device_id")
            .agg(pl.col("newest").max())
        )


def previous_sql(upto_rowid: int | None = None) -> str:
    """Per device of the view ``first_fix`` (device_id, ts): its last unflagged stored fix
    before ts, at most the lookback before; device_id, ts (epoch s), lat, lon. Takes
    :func:`previous_params`."""
    return f"""
        SELECT f.device_id,
               epoch(max(p.ts)) AS ts,
               arg_max(p.lat, p.ts) AS lat,
               arg_max(p.lon, p.ts) AS lon
        FROM first_fix f
        JOIN pings p ON p.device_id = f.device_id
            AND p.ts < f.ts AND p.ts >= f.ts - to_seconds(?) AND p.flags = 0
        WHERE p.ts >= ? AND p.ts < ?{_rowid_bound(upto_rowid)}
        GROUP BY f.device_id
        """


def previous_params(first: pl.DataFrame, lookback_s: float) -> list[object]:
    """The parameters of :func:`previous_sql`: the lookback, and the fix-time range of every
    row it may read (constants, so the engine skips row groups and files by their min/max)."""
    return [
        lookback_s,
        first["ts"].min() - dt.timedelta(seconds=lookback_s),  # type: ignore[operator]
        first["ts"].max(),
    ]


def read_previous(
    con: duckdb.DuckDBPyConnection,
    first: pl.DataFrame,
    lookback_s: float,
    upto_rowid: int | None = None,
) -> pl.DataFrame:
    """Per device of ``first`` (device_id, ts): its last good stored fix before ts, in
    ``con``'s transaction (device_id, ts as epoch s, lat, lon; a device with none is
    missing)."""
    return select_with(
        con, "first_fix", first, previous_sql(upto_rowid), previous_params(first, lookback_s)
    )


def _read_stored(
    con: duckdb.DuckDBPyConnection, spans: pl.DataFrame, upto_rowid: int | None
) -> pl.DataFrame:
    """Stored fixes of each device of ``spans`` (device_id, start, until: fix times, until
    null for no end) with start <= ts <= until, sorted by (device_id, ts)."""
    # constant bounds, so the engine skips row groups and files by their min/max
    bounds: list[object] = [
        spans["start"].min(),
        spans["device_id"].min(),
        spans["device_id"].max(),
    ]
    until = ""
    if spans["until"].null_count() == 0:
        until = " AND p.ts <= ?"
        bounds.append(spans["until"].max())
    return select_with(
        con,
        "walk_spans",
        spans,
        "SELECT p.rowid AS rowid, p.device_id, p.ts, p.lat, p.lon, p.acc, p.sat, p.flags "
        "FROM pings p JOIN walk_spans w ON p.device_id = w.device_id AND p.ts >= w.start "
        "AND (w.until IS NULL OR p.ts <= w.until) "
        f"WHERE p.ts >= ? AND p.device_id BETWEEN ? AND ?{until}{_rowid_bound(upto_rowid)} "
        "ORDER BY p.device_id, p.ts",
        bounds,
    )


def rewalk_late(
    con: duckdb.DuckDBPyConnection,
    new: pl.DataFrame,
    flagging: Flagging,
    newest: NewestFixes,
    *,
    upto_rowid: int | None = None,
) -> tuple[np.ndarray, pl.DataFrame]:
    """Re-walk the devices of ``new`` (fixes not stored yet, some not newer than their
    device's newest stored fix; sorted by device_id, ts).

    Reads (in ``con``'s transaction; only rows up to ``upto_rowid`` when given) each
    device's last good fix before its first new fix and its stored fixes from there until
    the chains meet. Returns the new rows' flags and the stored rows read (rowid,
    device_id, ts, their ``flags`` and ``new_flags``)."""
    spans = new.group_by("device_id", maintain_order=True).agg(
        pl.col("ts").min().alias("start"), pl.col("ts").max().alias("until")
    )
    first = spans.select("device_id", pl.col("start").alias("ts"))
    previous = read_previous(con, first, flagging.lookback_s, upto_rowid)
    ahead = spans.with_columns(pl.col("until") + pl.duration(seconds=WALK_AHEAD_S))
    stored = _read_stored(con, ahead, upto_rowid)
    # devices with stored fixes after the first read
    beyond = ahead.filter(newest.of(ahead["device_id"]) > ahead["until"].dt.epoch("us"))
    longer = beyond["device_id"].to_list()
    new_flags, stored_flags, unsettled = flagging.rewalk(new, stored, previous, longer)
    # chains that have not met within the first read: read on to the device's end
    cut = beyond.filter(pl.col("device_id").is_in(unsettled))
    if cut.height:
        again = cut.select("device_id", "start", pl.lit(None, cut["until"].dtype).alias("until"))
        more = _read_stored(con, again, upto_rowid)
        some = pl.col("device_id").is_in(cut["device_id"].to_list())
        new_mask = new.select(some).to_series().to_numpy()
        flags_more, stored_more, _ = flagging.rewalk(new.filter(some), more, previous)
        new_flags[new_mask] = flags_more
        keep = ~stored.select(some).to_series().to_numpy()
        stored = pl.concat([stored.filter(pl.Series(keep)), more])
        stored_flags = np.concatenate([stored_flags[keep], stored_more])
    return new_flags, stored.with_columns(pl.Series("new_flags", stored_flags, dtype=pl.UInt8))


#: A device's last good stored fix (:func:`read_previous`), as the flagger takes it.
PREVIOUS_SCHEMA = pl.Schema(
    {"device_id": pl.String, "ts": pl.Float64, "lat": pl.Float64, "lon": pl.Float64}
)

#: The stored rows a walk changed: (rowid, ts, their new flags), for :func:`update_flags`.
CHANGED_SCHEMA = pl.Schema(
    [("rowid", pl.Int64), ("ts", pl.Datetime("us", "UTC")), ("flags", pl.UInt8)]
)


def flag_rows(
    con: duckdb.DuckDBPyConnection,
    rows: pl.DataFrame,
    flagging: Flagging,
    newest: NewestFixes,
    *,
    late: Collection[str] = (),
    upto_rowid: int | None = None,
) -> tuple[np.ndarray, pl.DataFrame]:
    """The walk: flags of ``rows`` (fixes not stored yet, or not handled yet by the stage;
    grouped by device_id and sorted by ts) in fix-time order with their devices' stored
    fixes (only those up to ``upto_rowid`` when given), in ``con``'s transaction.

    The devices of ``late`` (some row not newer than the device's newest stored fix) are
    re-walked with their stored fixes (:func:`rewalk_late`); the others are walked on from
    their last good fix. Returns the rows' flags and the stored rows whose flags change
    (:data:`CHANGED_SCHEMA`), which the caller updates (:func:`update_flags`) and counts
    as changed, in the same transaction."""
    flags = np.zeros(rows.height, dtype=np.uint8)
    changed = pl.DataFrame(schema=CHANGED_SCHEMA)
    again = rows["device_id"].is_in(list(late)).to_numpy() if late else None
    fresh = rows if again is None else rows.filter(pl.Series(~again))
    if fresh.height:  # newer than every stored fix of their device: walked on
        first = flagging.unremembered(fresh)
        previous = pl.DataFrame(schema=PREVIOUS_SCHEMA)
        if first.height:  # a device whose last good fix the flagger does not remember
            previous = read_previous(con, first, flagging.lookback_s, upto_rowid)
        if again is None:
            flags = flagging.flag_fresh(fresh, previous)
        else:
            flags[~again] = flagging.flag_fresh(fresh, previous)
    if again is not None and again.any():  # a late fix: the stored ones after it again
        flags[again], walked = rewalk_late(
            con, rows.filter(pl.Series(again)), flagging, newest, upto_rowid=upto_rowid
        )
        changed = walked.filter(pl.col("flags") != pl.col("new_flags")).select(
            pl.col("rowid").cast(pl.Int64), "ts", pl.col("new_flags").alias("flags")
        )
    return flags, changed


def update_flags(
    con: duckdb.DuckDBPyConnection, changed: pl.DataFrame, upto_rowid: int | None = None
) -> None:
    """Set ``flags`` of the stored rows ``changed`` (rowid, ts, flags) in ``con``'s
    transaction (an UPDATE keeps the row ids: the stage's feed does not read them again)."""
    if changed.height == 0:
        return
    bounds: list[object] = [changed["ts"].min(), changed["ts"].max()]
    con.register("new_flags", changed.select("rowid", "flags"))
    try:
        # the ts range lets the engine skip row groups (files) by their min/max
        con.execute(
            "UPDATE pings SET flags = f.flags FROM new_flags f "
            f"WHERE pings.rowid = f.rowid AND pings.ts BETWEEN ? AND ?"
            f"{_rowid_bound(upto_rowid, 'pings')}",
            bounds,
        )
    finally:
        con.unregister("new_flags")
