"""API settings."""

from __future__ import annotations

from dataclasses import dataclass

from base.errors import ConfigError
from base.settings import setting

#: What supervisors see of the fixes outside a rostered worker's shifts (``--off-duty``).
OFF_DUTY_CHOICES = ("keep", "hide")

#: Where every route of the API is mounted.
API_PREFIX = "/api/v1"


@dataclass(frozen=True, kw_only=True)
class ApiSettings:
    max_window_days: float = setting(31.0, "longest report or track window a request may ask for")
    sse_keepalive_s: float = setting(
        15.0, "seconds between keep-alive comments on the alert stream"
    )
    tokens_reload_s: float = setting(
        2.0, "how often the tokens file is checked for changes (a revoked token's streams close)"
    )
    sse_max_streams: int = setting(200, "alert streams open at once, in all (more: 429)")
    sse_max_streams_per_token: int = setting(8, "alert streams open at once per token (more: 429)")
    command_timeout_s: float = setting(
        30.0,
        "how long a command to a device (and a roll call) waits for the answer "
        "before its outcome is timeout",
    )
    off_duty: str = setting(
        "hide",
        "fixes of a rostered device outside its shifts: hide (from supervisors' tracks and "
        "exports; admins see them) or keep (shown to all)",
    )

    def __post_init__(self) -> None:
        if self.off_duty not in OFF_DUTY_CHOICES:
            raise ConfigError(
                f"off_duty: {self.off_duty!r} is not one of {', '.join(OFF_DUTY_CHOICES)}"
            )
