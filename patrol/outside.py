"""A warning when the share of usable fixes outside every grid jumps.

Workers keep to their grids: in a town whose grid file is right, a few per cent of the
usable fixes fall outside every grid. A grid file in the wrong datum (a GCJ-02 file taken
for WGS-84 lies about 560 m off) or one that moved raises that share at once. The watch
compares the last :data:`RECENT_FIXES` usable fixes with the share among the fixes stored
in the day before serve started (the grids they were placed in then), or, in a store with
no history, with the first window seen; it warns in ``/health`` (``live_stage``), never
as a problem (the fixes are stored either way): ``gridpatrol grids check FILE --db``
tells which datum fits (docs/datums.md).
"""

from __future__ import annotations

import collections
import logging
from dataclasses import dataclass

import numpy as np

from base.health import detail, gauge

log = logging.getLogger("gridpatrol.live")

#: The recent window, in usable fixes: a town of 70 devices sends about this many in 10
#: minutes, so a wrong grid file shows within minutes, and a handful of devices at a depot
#: outside the grids cannot swing it.
RECENT_FIXES = 5_000
#: The share is judged once the window holds this many fixes.
MIN_FIXES = 1_000
#: A rise of the share outside by this much (10 points) is a jump: a GCJ-02 file taken for
#: WGS-84 leaves 13 % of a day of the demo town outside instead of 0 % (its grids tile the
#: town: only fixes near its rim leave them; docs/datums.md).
JUMP = 0.10


@dataclass
class OutsideHealth:
    """For /health and /metrics (base/health.py)."""

    recent: float = gauge(
        "gridpatrol_fixes_outside_share",
        f"share of the last {RECENT_FIXES} usable fixes outside every grid",
        default=0.0,
        key="live_stage.outside_recent",
        digits=4,
    )
    baseline: float | None = detail(
        "share outside every grid before: the usable fixes stored the day before start "
        "(or the first window seen)",
        key="live_stage.outside_baseline",
    )
    warning: str = detail(
        "set while the share outside every grid is far above the baseline",
        default="",
        key="live_stage.outside_warning",
    )


class OutsideWatch:
    HEALTH_PARTS = ("health",)  # base/health.py

    def __init__(self, stored: tuple[int, int]) -> None:
        # stored: (usable fixes, of them outside every grid) of the day before start
        fixes, outside = stored
        self.health = OutsideHealth()
        if fixes >= MIN_FIXES:
            self.health.baseline = round(outside / fixes, 4)
        self._window: collections.deque[tuple[int, int]] = collections.deque()
        self._fixes = 0
        self._outside = 0

    def add(self, grid: np.ndarray) -> None:
        """One batch's usable fixes: each one's leaf index, -1 outside every grid."""
        if len(grid) == 0:
            return
        batch = (len(grid), int((grid < 0).sum()))
        self._window.append(batch)
        self._fixes += batch[0]
        self._outside += batch[1]
        while self._window and self._fixes - self._window[0][0] >= RECENT_FIXES:
            fixes, outside = self._window.popleft()
            self._fixes -= fixes
            self._outside -= outside
        if self._fixes < MIN_FIXES:
            return
        share = self._outside / self._fixes
        self.health.recent = share
        if self.health.baseline is None:
            self.health.baseline = round(share, 4)
            return
        jumped = share - self.health.baseline >= JUMP
        if jumped and not self.health.warning:
            self.health.warning = (
                f"{share:.1%} of the last {self._fixes:,} usable fixes are outside every "
                f"grid, {self.health.baseline:.1%} before: a grid file in the wrong datum "
                "or moved? (gridpatrol grids check FILE --db)"
            )
            log.warning("%s", self.health.warning)
        elif not jumped and self.health.warning:
            self.health.warning = ""
