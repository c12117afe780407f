"""Fuzzed JT/T 808 frames through real gateway sessions: no crash, memory flat."""

from __future__ import annotations

from tests.faults.fuzz_jt808 import run


def test_thirty_thousand_mutated_frames():
    # 100,000 take about 9 s here: python -m tests.faults.fuzz_jt808 -n 100000
    totals = run(30_000, seed=20261203)
    assert totals["frames"] == 30_000
    assert totals["dropped"] > 10_000  # the mutations really reach the bad-input paths
    assert totals["answer_bytes"] > 0  # and the intact frames are answered
    assert totals["memory_growth_bytes"] < 256 * 1024
    assert totals["reassembly_bytes_left"] == 0  # the shared budget gets back what closes
    # commands down: each read ends in one reply (sent, then answered, timed out or offline)
    assert totals["commands"] > 2_000 and totals["replies"] > 1_000
    assert totals["answered"] > 0  # answers matched by serial reach the reply path
    assert totals["outstanding_left"] == 0
