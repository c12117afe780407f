"""Which datum a grid file's coordinates are really in, told by the fixes that fall in it.

A file drawn on an Amap map (GCJ-02) and imported as WGS-84 lies about 560 m off in
Tianjin: the workers' fixes then fall outside every grid far more often than they should.
The check places the stored usable fixes in the grids as imported, then as if the file's
coordinates were each other datum (a fix ``p`` is in the file's grid under datum H when
``S⁻¹(H(p))`` is in the imported grid, S the datum the file was imported as: no grid set is
built twice), and names a datum that leaves far fewer fixes outside every grid.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from base.datum import Datum, from_wgs84, to_wgs84
from geofence.crs import Crs
from geofence.grids import GridSet

#: Another datum fits far better when it leaves at most this share of the fixes that the
#: file's own datum leaves outside every grid ...
FAR_BETTER_RATIO = 0.5
#: ... and at least this many of all fixes fewer outside (5 points): a town whose workers
#: keep to their grids has 0 to 2 % of its fixes outside.
FAR_BETTER_POINTS = 0.05


@dataclass(frozen=True)
class DatumFit:
    fixes: int
    stated: Datum  # the datum the file was read as (a projected file: WGS-84)
    stated_label: str  # as the file or --crs named it
    inside: dict[Datum, float]  # share of the fixes inside some grid, the stated one first
    better: Datum | None  # a datum that fits far better, or None

    def _name(self, datum: Datum) -> str:
        return self.stated_label if datum is self.stated else datum.label

    @property
    def lines(self) -> list[str]:
        shares = ", ".join(f"{v:.1%} as {self._name(d)}" for d, v in self.inside.items())
        out = [f"datum check: {self.fixes:,} usable fixes; inside some grid: {shares}"]
        if self.better is not None:
            out.append(
                f"the grids fit the fixes as {self.better.label} "
                f"({self.inside[self.better]:.1%} inside), not as {self.stated_label} "
                f"({self.inside[self.stated]:.1%}): import the file with "
                f"--crs {self.better.value}"
            )
        return out


def fit_datums(grid_set: GridSet, lon: np.ndarray, lat: np.ndarray, crs: Crs | None) -> DatumFit:
    """Shares of the fixes (WGS-84) inside some grid under each datum for the file's
    coordinates. ``crs``: what the file was imported as (None: WGS-84 by default; a
    projected system is compared as the WGS-84 it was converted to)."""
    from geofence.assign import assign  # a kernel module: loaded where it runs

    stated = crs.datum if crs is not None and crs.datum is not None else Datum.WGS84
    inside: dict[Datum, float] = {}
    for datum in (stated, *(d for d in Datum if d is not stated)):
        x, y = to_wgs84(stated, *from_wgs84(datum, lon, lat))
        inside[datum] = float((assign(grid_set, x, y) >= 0).mean()) if len(x) else 0.0
    best = max(inside, key=lambda d: inside[d])
    outside_stated, outside_best = 1.0 - inside[stated], 1.0 - inside[best]
    far = (
        best is not stated
        and outside_best <= FAR_BETTER_RATIO * outside_stated
        and outside_stated - outside_best >= FAR_BETTER_POINTS
    )
    label = crs.label if crs is not None else stated.label
    return DatumFit(len(lon), stated, label, inside, best if far else None)
