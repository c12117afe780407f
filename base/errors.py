"""The project's exception base: raised only for broken infrastructure or bad configuration.

Bad input (a malformed ping, a broken grid file) is data, reported with reason codes,
never an exception that escapes a package.
"""


class GridpatrolError(Exception):
    """Base of every exception gridpatrol raises on purpose."""


class ConfigError(GridpatrolError):
    """A setting, flag or input file is unusable; the message says which and why."""
