"""A real writer whose writes can be held, as a slow or stuck disk would hold them."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from tracks.writer import PingWriter, StoredBatch


class HeldWrites:
    """While ``hold`` is set, every :meth:`PingWriter.write` waits (``writing`` tells it was
    called).

    serve builds its writer itself: a test calls :meth:`install` (its monkeypatch undoes it)
    and :meth:`reset` (the events are the class's)."""

    hold = threading.Event()
    writing = threading.Event()

    @classmethod
    def reset(cls) -> None:
        cls.hold.set()
        cls.writing.clear()

    @classmethod
    def install(cls, monkeypatch: pytest.MonkeyPatch) -> None:
        write = PingWriter.write

        def held(self: PingWriter, *args: Any, **kwargs: Any) -> StoredBatch:
            cls.writing.set()
            while cls.hold.is_set():
                time.sleep(0.02)
            return write(self, *args, **kwargs)

        monkeypatch.setattr(PingWriter, "write", held)
