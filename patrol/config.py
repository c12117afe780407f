"""Settings of the stage role (``serve --role stage``): one frozen dataclass, passed down."""

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
