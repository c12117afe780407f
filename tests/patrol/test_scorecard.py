"""The daily scorecard from a real database, against numbers worked out by hand.

The day of tests/patrol/day.py, with cell_m = 30 m (reach 25 m, segments up to 120 s):

d1 (assigned A)
  presence: each fix stands for [t, min(next fix, t + 120 s, end)): fixes 0..13 for 60 s each,
    the last one for 120 s: 14 x 60 + 120 = 960 s in all, of which 10 x 60 = 600 s in A:
    600 / 960 = 0.625
  coverage: A's cells of 30 m whose centres A covers: x centres -135, -105, -75, -45 and
    y centres -45, -15, 15, 45: 16 cells. The track runs along y = 0 from x = -150 to -20, so
    the cells at y = +-15 (15 m away, within 25 m) are covered and those at y = +-45 are not:
    8 / 16 = 0.5
  compliance of A: visits 08:00 .. 08:09; gaps 00:00 -> 08:00 (28,800 s, under the 43,200 s
    interval), one minute each, and 08:09 -> 24:00 (57,060 s): overdue 57,060 - 43,200 =
    13,860 s of 86,400 s: 1 - 13,860 / 86,400 = 0.8395833 -> 0.839583; one violation
  score: 100 x (0.4 x 0.625 + 0.3 x 0.5 + 0.3 x 0.839583) = 65.1875; minus 2 points for the
    violation = 63.1875 -> 63.2 (no bonus: presence under 0.9)
d2 (assigned C, never heard from)
  presence and coverage missing (count as 0); C never visited: overdue 86,400 - 43,200 =
  43,200 s: compliance 0.5, one violation; score 100 x 0.3 x 0.5 - 2 = 13.0
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from geofence.config import GeofenceSettings
from geofence.scorecard import score
from patrol.derive import ReportGrids
from patrol.scorecard import run_assessment, run_scorecard, service_days
from tests.patrol.day import DAY, build_day
from tracks.store import Store

SETTINGS = GeofenceSettings(cell_m=30.0, timezone="Asia/Shanghai")


def test_scorecard_rows_match_the_hand_worked_day(tmp_path):
    db, grid_set = build_day(tmp_path)
    with Store(db, read_only=True) as store:
        rows = run_scorecard(ReportGrids(store, grid_set), store, DAY, SETTINGS)
    assert rows == [
        {
            "date": "2026-11-20",
            "worker": "Li Wei",
            "device_id": "d1",
            "grid_id": "A",
            "presence": 0.625,
            "coverage": 0.5,
            "compliance": 0.839583,
            "violations": 1,
            "score": 63.2,
        },
        {
            "date": "2026-11-20",
            "worker": "Wang Fang",
            "device_id": "d2",
            "grid_id": "C",
            "presence": None,
            "coverage": None,
            "compliance": 0.5,
            "violations": 1,
            "score": 13.0,
        },
    ]


@pytest.mark.parametrize(
    ("presence", "coverage", "compliance", "violations", "expected"),
    [
        # 100 x (0.4 + 0.3 + 0.3) + 5 bonus (presence >= 0.9, no violation), clamped to 100
        (1.0, 1.0, 1.0, 0, 100.0),
        # 100 x (0.36 + 0.15 + 0.27) = 78 + 5 bonus = 83
        (0.9, 0.5, 0.9, 0, 83.0),
        # the same with one violation: no bonus, 78 - 2 = 76
        (0.9, 0.5, 0.9, 1, 76.0),
        # deductions stop at 20 points: 78 - 20 = 58 with 15 violations
        (0.9, 0.5, 0.9, 15, 58.0),
        # nothing known, violations: clamped at 0
        (None, None, None, 3, 0.0),
    ],
)
def test_score_formula_by_hand(presence, coverage, compliance, violations, expected):
    assert score(presence, coverage, compliance, violations) == expected


def test_assessment_over_two_days_by_hand(tmp_path):
    """Over 2026-11-20 (the day above) and 2026-11-21 (no fixes at all):

    on the 21st d1 is never heard from and A never visited, so d1's day is d2's of the 20th:
    presence and coverage missing, compliance 0.5, one violation, score 13.0. Means leave the
    missing days out: d1 presence 0.625, coverage 0.5, compliance (0.839583 + 0.5) / 2 =
    0.6697915, score (63.2 + 13.0) / 2 = 38.1, violations 1 + 1 = 2; d2 as on either day,
    violations 2.
    """
    db, grid_set = build_day(tmp_path)
    days = [DAY, DAY + dt.timedelta(days=1)]
    with Store(db, read_only=True) as store:
        daily, means = run_assessment(ReportGrids(store, grid_set), store, days, SETTINGS)
    assert [(r["date"], r["device_id"], r["score"]) for r in daily] == [
        ("2026-11-20", "d1", 63.2),
        ("2026-11-20", "d2", 13.0),
        ("2026-11-21", "d1", 13.0),
        ("2026-11-21", "d2", 13.0),
    ]
    span = "2026-11-20..2026-11-21"
    assert means[0] == {
        "date": span,
        "worker": "Li Wei",
        "device_id": "d1",
        "grid_id": "A",
        "presence": 0.625,
        "coverage": 0.5,
        "compliance": pytest.approx(0.6697915, abs=1e-6),
        "violations": 2,
        "score": 38.1,
        "days": 2,
    }
    assert means[1] == {
        "date": span,
        "worker": "Wang Fang",
        "device_id": "d2",
        "grid_id": "C",
        "presence": None,
        "coverage": None,
        "compliance": 0.5,
        "violations": 2,
        "score": 13.0,
        "days": 2,
    }


def test_service_days_are_the_whole_days_of_the_window():
    tz = ZoneInfo("Asia/Shanghai")
    start = dt.datetime(2026, 11, 20, 0, 0, tzinfo=tz)
    assert service_days(start, start + dt.timedelta(days=7), tz) == [
        DAY + dt.timedelta(days=k) for k in range(7)
    ]
    # a window starting at 06:00 and ending at 06:00 two days later holds one whole day
    assert service_days(
        start + dt.timedelta(hours=6), start + dt.timedelta(days=2, hours=6), tz
    ) == [DAY + dt.timedelta(days=1)]
