"""``gridpatrol serve``: the process of ``--role``, run until SIGTERM or SIGINT.

What each role is: gridpatrol/roles.py; how each is assembled: gridpatrol/compose.py; the
parts they share: gridpatrol/parts.py.
"""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

from gridpatrol.compose import ServeSettings, compose
from gridpatrol.roles import ServeOptions
from tracks.errors import redact

log = logging.getLogger("gridpatrol.serve")


def serve(options: ServeOptions, settings: ServeSettings) -> int:
    process = compose(options, settings)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("signal %d: finishing what is under way, then exiting", signum)
        process.stop()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
    log.info("serving %s as --role %s", redact(str(options.db)), options.role)
    process.run()
    log.info("stopped cleanly")
    return 0
