"""A real DuckDB store whose writes can be held, as a slow or stuck disk would hold them."""

from __future__ import annotations

import threading
import time
from typing import Any

from tracks.store import Store, WriteResult


class HeldStore(Store):
    """While ``hold`` is set, ``write_batch`` waits (``writing`` tells it was called).

    serve builds its store itself: a test puts this class in place of ``Store`` in
    ``gridpatrol.serve`` and calls :meth:`reset` first (the events are the class's)."""

    hold = threading.Event()
    writing = threading.Event()

    @classmethod
    def reset(cls) -> None:
        cls.hold.set()
        cls.writing.clear()

    def write_batch(self, *args: Any, **kwargs: Any) -> WriteResult:
        self.writing.set()
        while self.hold.is_set():
            time.sleep(0.02)
        return super().write_batch(*args, **kwargs)
