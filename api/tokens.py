"""Bearer tokens in a file that holds only their SHA-256 hashes (JSON lines).

``gridpatrol tokens add`` creates a token and prints it once; the file keeps its hash, role,
grid scope and name. Tokens are 32 random bytes, so a plain SHA-256 is enough (no password
stretching is needed for secrets that cannot be guessed); they are compared in constant time.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
import secrets
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from base.errors import ConfigError

#: admin: everything; supervisor: the subtrees of its grids; metrics: /metrics, /stats and
#: /health's detail only (a monitoring system's, which should read no worker's track).
ROLES = ("admin", "supervisor", "metrics")


@dataclass(frozen=True)
class TokenEntry:
    id: str
    name: str
    role: str
    grids: list[str]
    sha256: str
    created: str


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def read_tokens(path: Path) -> list[TokenEntry]:
    if not path.exists():
        return []
    entries = []
    for n, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entries.append(TokenEntry(**json.loads(line)))
        except (json.JSONDecodeError, TypeError) as exc:
            raise ConfigError(f"{path}:{n}: not a token entry ({exc})") from exc
    return entries


def _write(path: Path, entries: list[TokenEntry]) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.writelines(json.dumps(asdict(e)) + "\n" for e in entries)
    os.replace(tmp, path)


def add_token(path: Path, role: str, grids: list[str], name: str) -> tuple[TokenEntry, str]:
    """Create a token; returns its entry and the token itself (shown once, never stored)."""
    if role not in ROLES:
        raise ConfigError(f"role must be one of {', '.join(ROLES)}")
    if role == "supervisor" and not grids:
        raise ConfigError("a supervisor token needs at least one --grid")
    token = "gp_" + secrets.token_urlsafe(32)
    entry = TokenEntry(
        id=secrets.token_hex(4),
        name=name,
        role=role,
        grids=list(grids),
        sha256=_hash(token),
        created=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    )
    _write(path, [*read_tokens(path), entry])
    return entry, token


def revoke_token(path: Path, token_id: str) -> bool:
    entries = read_tokens(path)
    kept = [e for e in entries if e.id != token_id]
    _write(path, kept)
    return len(kept) < len(entries)


class TokenFile:
    """The tokens file as the API sees it: reloaded when it changes, no restart needed."""

    def __init__(self, path: Path, reload_s: float = 2.0) -> None:
        self.path = path
        self.reload_s = reload_s
        self._lock = threading.Lock()
        self._mtime: float | None = None
        self._checked = 0.0
        self._entries: list[TokenEntry] = []
        self._reload()

    def _reload(self) -> None:
        try:
            mtime = self.path.stat().st_mtime_ns
        except FileNotFoundError:
            mtime = None
        if mtime != self._mtime:
            self._entries = read_tokens(self.path)
            self._mtime = mtime

    def _current(self) -> list[TokenEntry]:
        """The entries, read again when ``reload_s`` has passed and the file changed."""
        with self._lock:
            now = time.monotonic()
            if now - self._checked >= self.reload_s:
                self._checked = now
                self._reload()
            return self._entries

    def holds(self, entry: TokenEntry) -> bool:
        """Whether this entry is still in the file as it was (not revoked, scope unchanged),
        as of the last reload: an open stream asks every ``reload_s``."""
        return entry in self._current()

    def find(self, token: str) -> TokenEntry | None:
        entries = self._current()
        digest = _hash(token)
        found = None
        for entry in entries:  # look at every entry, whatever matches, in constant time
            if hmac.compare_digest(entry.sha256, digest):
                found = entry
        return found
