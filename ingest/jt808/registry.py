"""The gateway's view of the terminal registry (``terminals``, :mod:`tracks.terminals`).

The gateway opens the registry's database itself (``--db``: a DuckDB file of its own, or the
lake serve writes) and is the only process that issues codes. It holds the registry in
memory (a dict by phone: a lookup per registration, authentication and report costs no
query), loads it at start and again every ``--registry-reload-s`` (rows an operator
imported or reset on a lake), and writes only a code, when it issues one: in one
transaction that sets it only where none is stored, so the first registration wins.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from dataclasses import dataclass, replace

from ingest.jt808 import messages as m
from tracks.store import Store
from tracks.terminals import issue_code, read_terminals

log = logging.getLogger("gridpatrol.jt808")


@dataclass(frozen=True, slots=True)
class Known:
    """One terminal of the registry."""

    terminal_id: str  # '' : any
    plate: str  # '' : any
    device_id: str  # what its fixes are published as
    code: str | None  # issued at its registration; None: not registered yet


def new_code() -> str:
    """A random authentication code: 16 hex digits (64 bits), printable for every terminal."""
    return secrets.token_hex(8)


class Registry:
    """Known terminals by phone key (:func:`tracks.terminals.phone_key`)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.terminals: dict[str, Known] = {}
        self.plates: dict[str, str] = {}  # plate -> phone key, for result 1
        self.issued: dict[str, str] = {}  # codes issued since the last swap
        self.swap(self.read())

    def read(self) -> dict[str, Known]:
        """The stored registry (a query: the reload runs it off the event loop)."""
        frame = read_terminals(self.store)
        return {
            row["phone"]: Known(
                row["terminal_id"], row["plate"], row["device_id"], row["auth_code"]
            )
            for row in frame.iter_rows(named=True)
        }

    def swap(self, terminals: dict[str, Known]) -> None:
        """Hold ``terminals`` (just read) from now on, with the codes this gateway issued
        while they were read (on the event loop, as registrations are)."""
        for phone, code in self.issued.items():
            known = terminals.get(phone)
            if known is not None and known.code is None:
                terminals[phone] = replace(known, code=code)
        self.issued = {}
        self.terminals = terminals
        self.plates = {k.plate: phone for phone, k in terminals.items() if k.plate}

    def register(self, phone: str, registration: m.Registration) -> tuple[int, str]:
        """The 0x8100 result and, for result 0, the code just issued. Raises StoreError when
        the code could not be stored (the caller answers nothing: the terminal retransmits)."""
        known = self.terminals.get(phone)
        if known is None or (known.terminal_id and registration.terminal_id != known.terminal_id):
            return m.NO_SUCH_TERMINAL, ""
        if known.plate and registration.plate and registration.plate != known.plate:
            owner = self.plates.get(registration.plate)
            if owner is not None and self.terminals[owner].code is not None:
                return m.VEHICLE_REGISTERED, ""
            return m.NO_SUCH_VEHICLE, ""
        if known.code is not None:
            return m.TERMINAL_REGISTERED, ""
        code = new_code()
        if not issue_code(self.store, phone, code):  # another gateway on the lake was first
            return m.TERMINAL_REGISTERED, ""
        self.terminals[phone] = replace(known, code=code)
        self.issued[phone] = code
        log.info("jt808: terminal %s registered (device %s)", phone, known.device_id)
        return m.OK, code

    def verify(self, phone: str, code: str) -> bool:
        """Whether ``code`` is the one issued to this terminal (constant time, as bytes:
        compare_digest refuses str with non-ASCII characters)."""
        known = self.terminals.get(phone)
        if known is None or known.code is None:
            return False
        return hmac.compare_digest(code.encode("latin-1", "replace"), known.code.encode())

    def device(self, phone: str) -> str | None:
        """The device id a known terminal's fixes are published as; None for an unknown one."""
        known = self.terminals.get(phone)
        return None if known is None else known.device_id
