"""A live clock for tests: the wall clock, shifted by an amount the test sets."""

from __future__ import annotations

import time


class ShiftedClock:
    def __init__(self, shift_s: float = 0.0) -> None:
        self.shift_s = shift_s

    def __call__(self) -> float:
        return time.time() + self.shift_s
