"""Coverage: the share of a grid's 20 m cells whose centre a usable track passed within 25 m."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from geofence.fixes import Fixes
from geofence.grids import GridSet, Leaves


@dataclass(frozen=True)
class GridCells:
    """The cells of every leaf as indices into one raster of the plane."""

    cell_m: float
    i0: int
    j0: int
    nx: int
    ny: int
    off: np.ndarray  # leaf g's cells are cells[off[g]:off[g+1]]
    cells: np.ndarray

    @property
    def leaf_cells(self) -> LeafCells:
        return LeafCells(self.off, self.cells, self.nx * self.ny)


class LeafCells(NamedTuple):
    """Each leaf's cells as raster indices, without the raster's placement: what counting
    covered cells needs (stored with the derived data, tracks.derived)."""

    off: np.ndarray  # leaf g's cells are cells[off[g]:off[g+1]]
    cells: np.ndarray  # int64 raster indices
    size: int  # cells in the raster

    def covered(self, stamp: np.ndarray, value: int) -> np.ndarray:
        """Per leaf, how many of its cells ``stamp`` holds ``value`` in."""
        marked = np.concatenate([[0], np.cumsum(stamp[self.cells] == value)])
        return marked[self.off[1:]] - marked[self.off[:-1]]

    def keep(self) -> np.ndarray:
        """A mask of the raster: the cells of some leaf."""
        mask = np.zeros(self.size, dtype=np.bool_)
        mask[self.cells] = True
        return mask


def grid_cells(grid_set: GridSet, cell_m: float) -> GridCells:
    """Cells aligned at the plane's origin whose centres the leaf covers (edges count)."""
    plane = grid_set.plane
    x0, y0 = plane.to_xy(grid_set.bbox[:, 0], grid_set.bbox[:, 1])
    x1, y1 = plane.to_xy(grid_set.bbox[:, 2], grid_set.bbox[:, 3])
    i_lo, i_hi = np.floor(x0 / cell_m).astype(int), np.floor(x1 / cell_m).astype(int)
    j_lo, j_hi = np.floor(y0 / cell_m).astype(int), np.floor(y1 / cell_m).astype(int)
    i0, j0 = int(i_lo.min()), int(j_lo.min())
    nx, ny = int(i_hi.max()) - i0 + 1, int(j_hi.max()) - j0 + 1
    from geofence._tracks import (
        cells_inside,  # a kernel module: loaded where it runs (geofence/__init__.py)
    )

    parts = []
    off = [0]
    s = grid_set
    for g in range(len(grid_set.ids)):
        gi, gj = np.meshgrid(np.arange(i_lo[g], i_hi[g] + 1), np.arange(j_lo[g], j_hi[g] + 1))
        ii, jj = gi.ravel(), gj.ravel()
        lon, lat = plane.to_lonlat((ii + 0.5) * cell_m, (jj + 0.5) * cell_m)
        inside = np.empty(len(ii), dtype=np.bool_)
        cells_inside(
            g=g,
            lon=np.ascontiguousarray(lon),
            lat=np.ascontiguousarray(lat),
            rings=s.rings,
            out=inside,
        )
        parts.append(((jj - j0) * nx + (ii - i0))[inside])
        off.append(off[-1] + int(inside.sum()))
    cells = np.concatenate(parts).astype(np.int64) if parts else np.empty(0, dtype=np.int64)
    return GridCells(cell_m, i0, j0, nx, ny, np.asarray(off, dtype=np.int64), cells)


def _stamp(
    cells: GridCells,
    grid_set: GridSet,
    fixes: Fixes,
    rows: slice,
    stamp: np.ndarray,
    value: int,
    reach_m: float,
    segment_max_s: float,
) -> None:
    from geofence._tracks import (
        mark_cells,  # a kernel module: loaded where it runs (geofence/__init__.py)
    )

    x, y = grid_set.plane.to_xy(fixes.lon[rows], fixes.lat[rows])
    mark_cells(
        ts=fixes.ts[rows],
        x=np.ascontiguousarray(x),
        y=np.ascontiguousarray(y),
        device=fixes.device[rows],
        max_dt=segment_max_s,
        cell_m=cells.cell_m,
        reach_m=reach_m,
        i0=cells.i0,
        j0=cells.j0,
        nx=cells.nx,
        ny=cells.ny,
        stamp=stamp,
        value=value,
    )


def _row(grid_id: str, n_cells: int, covered: int, **extra: object) -> dict[str, object]:
    return {
        **extra,
        "grid_id": grid_id,
        "cells": n_cells,
        "covered": covered,
        "coverage": round(covered / n_cells, 6) if n_cells else None,
    }


def coverage_rows(
    grid_set: GridSet, cells: GridCells, fixes: Fixes, reach_m: float, segment_max_s: float
) -> list[dict[str, object]]:
    """Per leaf, then per parent (covered and cells summed over its leaves)."""
    stamp = np.zeros(cells.nx * cells.ny, dtype=np.int32)
    _stamp(cells, grid_set, fixes, slice(None), stamp, 1, reach_m, segment_max_s)
    return coverage_table(grid_set, cells.leaf_cells, stamp)


def coverage_table(
    grid_set: Leaves, cells: LeafCells, stamp: np.ndarray
) -> list[dict[str, object]]:
    """Rows from the raster ``stamp`` (covered cells hold 1): per leaf, then per parent."""
    covered = cells.covered(stamp, 1)
    totals = {
        grid_id: (int(cells.off[g + 1] - cells.off[g]), int(covered[g]))
        for g, grid_id in enumerate(grid_set.ids)
    }
    rows = [_row(i, *totals[i]) for i in grid_set.ids]
    for parent in grid_set.tree.parents:
        leaves = grid_set.tree.leaves_under[parent]
        n = sum(totals[i][0] for i in leaves)
        rows.append(_row(parent, n, sum(totals[i][1] for i in leaves)))
    return rows


def device_coverage_rows(
    grid_set: GridSet,
    cells: GridCells,
    fixes: Fixes,
    assigned: dict[str, str],
    reach_m: float,
    segment_max_s: float,
) -> list[dict[str, object]]:
    """Per device with an assigned grid: how much of that grid its own track covered."""
    stamp = np.zeros(cells.nx * cells.ny, dtype=np.int32)
    bounds = np.searchsorted(fixes.device, np.arange(len(fixes.devices) + 1))
    rows = []
    for d, device_id in enumerate(fixes.devices):
        grid_id = assigned.get(device_id)
        if grid_id is None or grid_id not in grid_set.by_id:
            continue
        value = d + 1
        rows_slice = slice(int(bounds[d]), int(bounds[d + 1]))
        _stamp(cells, grid_set, fixes, rows_slice, stamp, value, reach_m, segment_max_s)
        rows.append(device_row(grid_set, cells.leaf_cells, device_id, grid_id, stamp, value))
    return rows


def device_row(
    grid_set: Leaves,
    cells: LeafCells,
    device_id: str,
    grid_id: str,
    stamp: np.ndarray,
    value: int,
) -> dict[str, object]:
    """A device's row: the cells of its grid's leaves whose ``stamp`` is ``value``."""
    leaves = grid_set.tree.positions_under[grid_id]
    n = int((cells.off[leaves + 1] - cells.off[leaves]).sum())
    covered = sum(
        int((stamp[cells.cells[cells.off[g] : cells.off[g + 1]]] == value).sum()) for g in leaves
    )
    return _row(grid_id, n, covered, device_id=device_id)
