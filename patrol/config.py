"""Settings of live operation and of the stage role: frozen dataclasses, passed down."""

from __future__ import annotations

from dataclasses import dataclass

from base.settings import setting


@dataclass(frozen=True, kw_only=True)
class StageSettings:
    feed_poll_s: float = setting(0.2, "how often the stage looks for new lake snapshots")
    standby_try_s: float = setting(
        1.0, "how often a standby stage tries to take the lead (the takeover delay)"
    )
    maintenance_every_s: float = setting(
        60.0, "how often the stage merges small files and expires old snapshots"
    )
    keep_snapshots_s: float = setting(
        3600.0, "snapshots (time travel) and freed files are kept this long before removal"
    )


#: The environment variables of :class:`LiveSettings` keep the prefix they were published
#: with (``GRIDPATROL_GEOFENCE_*``, from when one class held rules and knobs): a contract.
LIVE_SETTINGS_PREFIX = "geofence"


@dataclass(frozen=True, kw_only=True)
class LiveSettings:
    """How live state runs (no effect on a patrol figure of the past)."""

    offline_after_s: float = setting(600.0, "silence after which a device is reported offline")
    live_clock: str = setting(
        "wall", "live alerts run on 'wall' clock time or 'event' time (the newest fix seen)"
    )
    tick_s: float = setting(1.0, "how often live state checks for overdue grids")
    derive_every_s: float = setting(
        60.0, "how often the live updater brings the derived patrol data up to date"
    )
    out_of_grid_after_s: float = setting(
        600.0, "a worker on shift beyond the buffer around the assigned grid this long: out_of_grid"
    )
    out_of_grid_buffer_m: float = setting(
        50.0, "tolerance around the assigned grid before a worker counts as out of it, m"
    )
    stationary_after_s: float = setting(
        1200.0, "a worker on shift whose fixes stay within the radius this long: stationary"
    )
    stationary_within_m: float = setting(30.0, "the radius of stationary, m")
    silent_after_s: float = setting(
        900.0, "a worker on shift without a fix this long: silent (device_offline knows no roster)"
    )
    due_soon_lead_s: float = setting(
        300.0, "a grid this close to its interval without a visit: due_soon (0: none)"
    )
    due_soon_names: int = setting(3, "due_soon names this many nearest workers on shift")
    roster_every_s: float = setting(
        30.0, "how often the live updater looks for a changed roster or calendar"
    )


@dataclass(frozen=True, kw_only=True)
class RetentionSettings:
    """How long raw fixes are kept (PIPL art. 19 and 47; docs/storage.md, "Retention")."""

    retain_days: int = setting(
        0,
        "raw fixes, rejected payloads and device events of days before the last N are "
        "deleted (derived figures and alerts stay); 0: kept forever",
    )
