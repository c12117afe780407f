"""The one writer of a store's pings: a flush in one transaction, flagged as it is stored.

:class:`PingWriter` owns what writing pings needs to remember between flushes: the flagger
(``geofence.flags.FixFlagger`` behind :class:`tracks.reflag.Flagging`, with each device's
last good fix), each device's newest stored fix (:class:`tracks.reflag.NewestFixes`) and the
keys of the recent flushes. The composition root builds it (``gridpatrol serve``) and hands
it to ingest's batcher; tests and tools write through ``Store.write_batch``, which keeps a
writer of the store's own. A process writes a store's pings through one writer only: each
writer's memory is of what it stored.

One flush (:meth:`PingWriter.write`), in one transaction:

1. split the rows newer than their device's newest stored fix from the others, which may be
   repeats: those are looked up among the recent keys, then in the table;
2. flag the rows to store with the one walk (:func:`tracks.reflag.flag_rows`), which reads
   in this transaction what it needs; on a store with one writer, a late fix's device is
   re-walked and the stored rows whose flags change are updated (a lake's workers append
   only: its stage re-walks, :mod:`tracks.changefeed`);
3. insert the new rows, the rejections, the device events, and the counters with
   ``stored`` and ``duplicates`` from what the insert really did;
4. after the commit: move the newest fixes and the recent keys on.

It returns the batch as stored (:class:`StoredBatch`): its new rows, with their flags.
"""

from __future__ import annotations

import collections
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol

import duckdb
import numpy as np
import polars as pl

from tracks.reflag import Flagging, NewestFixes, flag_rows, update_flags
from tracks.sql import execute_with

#: The keys of about this many recently written pings are kept in memory: a redelivered
#: window (a reconnect's, whose rows were committed but not acknowledged) is found there
#: without reading the table. The receive window (10,000 messages) of 50-ping messages.
RECENT_KEYS = 500_000


class PingStore(Protocol):
    """What the writer uses of a store (``tracks.store.Store``, ``tracks.lake.LakeStore``)."""

    #: Whether this process is the only writer of the store's pings (a DuckDB file): then
    #: stored rows may be updated. A lake's ingest workers are several, and append only.
    SOLE_WRITER: bool

    def transaction(self) -> AbstractContextManager[duckdb.DuckDBPyConnection]: ...

    def mark_changed(self, con: duckdb.DuckDBPyConnection, ts: pl.Series) -> None: ...

    def add_counters(self, con: duckdb.DuckDBPyConnection, increments: dict[str, int]) -> None: ...

    def checkpoint_if_due(self) -> None: ...


@dataclass(frozen=True)
class StoredBatch:
    """A flush as the write stored it."""

    pings: pl.DataFrame  # the rows stored by this write, in the batch's order, with their
    # flags as stored (with a flagger: as it set them, else as given)
    new: np.ndarray  # per row of the batch: stored by this write (else a repeat of a
    # stored fix, handed on when first stored)
    duplicates: int  # rows of the batch not stored: repeats of stored fixes

    @property
    def stored(self) -> int:
        return self.pings.height

    @property
    def flags(self) -> np.ndarray:
        """Each row of the batch's flags as stored (0 for a repeat: not stored again)."""
        flags = np.zeros(len(self.new), dtype=np.uint8)
        flags[self.new] = self.pings["flags"].to_numpy()
        return flags

    def rows_of(self, values: np.ndarray) -> np.ndarray:
        """Of an array with one entry per row of the batch, the stored rows' entries."""
        return values if self.duplicates == 0 else values[self.new]


class PingWriter:
    """Writes flushes of pings into a store; one per store and process (see the module)."""

    def __init__(self, store: PingStore, flagging: Flagging | None = None) -> None:
        # without ``flagging`` the flags are stored as given
        self.store = store
        self.flagging = flagging
        self._newest = NewestFixes()  # each device's newest stored fix
        self._recent: collections.deque[pl.DataFrame] = collections.deque()  # (device_id, ts)

    def write(
        self,
        pings: pl.DataFrame,
        rejected: pl.DataFrame,
        counters: dict[str, int],
        events: pl.DataFrame | None = None,
    ) -> StoredBatch:
        """Store one flush: pings (repeats of stored ones skipped), rejections, device
        events, counters, in one transaction.

        ``pings`` must hold no two rows with the same (device_id, ts), and with a flagger,
        be grouped by device and sorted by ts within each (as ingest's prepare sorts them):
        their flags are set in the transaction, in fix-time order with the device's stored
        fixes (docs/rules.md, "Flags"). ``counters`` are increments; ``stored`` and
        ``duplicates`` are added here from what the insert really did.
        """
        with self.store.transaction() as con:
            new, late = self._new_rows(con, pings)
            rows = pings if new.all() else pings.filter(pl.Series(new))
            if self.flagging is not None and rows.height:
                rows = self._flag(con, rows, pings["device_id"].gather(late))
            if rows.height:
                execute_with(
                    con, "batch_pings", rows, "INSERT INTO pings SELECT * FROM batch_pings"
                )
                self.store.mark_changed(con, rows["ts"])
            if rejected.height:
                execute_with(
                    con,
                    "batch_rejected",
                    rejected,
                    "INSERT INTO rejected SELECT * FROM batch_rejected",
                )
            if events is not None and events.height:
                execute_with(
                    con,
                    "batch_events",
                    events,
                    "INSERT INTO device_events SELECT * FROM batch_events",
                )
            increments = dict(counters)
            increments["stored"] = increments.get("stored", 0) + rows.height
            duplicates = pings.height - rows.height
            increments["duplicates"] = increments.get("duplicates", 0) + duplicates
            self.store.add_counters(con, increments)
        self._newest.advance(rows)
        if pings.height:
            self._recent.append(pings.select("device_id", "ts"))
            while sum(f.height for f in self._recent) > RECENT_KEYS + pings.height:
                self._recent.popleft()
        self.store.checkpoint_if_due()
        return StoredBatch(rows, new, duplicates)

    def _new_rows(
        self, con: duckdb.DuckDBPyConnection, pings: pl.DataFrame
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per row: not stored yet; and the rows of those not newer than their device's
        newest stored fix (late: row numbers, sorted).

        The newest fix per device is read once, then kept up to date by this writer, so the
        check of a flush of new fixes reads no stored rows however large the table is; only
        late or repeated fixes are checked further (among the recent keys, then the table)."""
        late = np.zeros(0, dtype=np.int64)
        if pings.height == 0:
            return np.zeros(0, dtype=np.bool_), late
        if not self._newest.loaded():
            self._newest.load(con)
        newer = self._newest.newer(pings)
        new = newer.to_numpy().copy()
        maybe = pings.with_row_index("row").filter(~newer)
        if maybe.height and self._recent:  # a redelivery: found among the recent flushes
            recent = pl.concat(self._recent)
            maybe = maybe.join(recent, on=["device_id", "ts"], how="anti", maintain_order="left")
        if maybe.height:
            bounds: list[object] = [maybe["ts"].min(), maybe["ts"].max()]
            bounds += [maybe["device_id"].min(), maybe["device_id"].max()]
            # (device_id, ts) is unique: rows already stored are skipped (the ranges let
            # DuckDB skip row groups by their min/max: of ts where rows came in time order,
            # of device_id where a backlog came device by device)
            con.register("batch_pings", maybe.select("row", "device_id", "ts"))
            try:
                found = con.execute(
                    "SELECT b.row FROM batch_pings b WHERE NOT EXISTS ("
                    "SELECT 1 FROM pings p WHERE p.ts BETWEEN ? AND ? "
                    "AND p.device_id BETWEEN ? AND ? "
                    "AND p.device_id = b.device_id AND p.ts = b.ts)",
                    bounds,
                ).fetchall()
            finally:
                con.unregister("batch_pings")
            late = np.sort(np.fromiter((r for (r,) in found), np.int64, len(found)))
            new[late] = True
        return new, late

    def _flag(
        self, con: duckdb.DuckDBPyConnection, rows: pl.DataFrame, late: pl.Series
    ) -> pl.DataFrame:
        """``rows`` (not stored yet) with their flags set by the walk; on a store with one
        writer the devices of ``late`` are re-walked, and the stored rows whose flags
        change are updated and their quarters marked changed."""
        assert self.flagging is not None
        again = late.unique().to_list() if self.store.SOLE_WRITER else []
        flags, changed = flag_rows(con, rows, self.flagging, self._newest, late=again)
        if changed.height:
            update_flags(con, changed)
            self.store.mark_changed(con, changed["ts"])
        return rows.with_columns(pl.Series("flags", flags, dtype=pl.UInt8))
