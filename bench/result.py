"""One figure of a benchmark run, beside its reference measured in the same run."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass
class Result:
    scenario: str
    case: str
    value: float
    unit: str
    reference: str = ""
    ref_value: float = math.nan
    note: str = ""

    @property
    def ratio(self) -> float:
        return self.value / self.ref_value if self.ref_value else math.nan
