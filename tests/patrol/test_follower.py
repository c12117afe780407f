"""The api role's alert stream read from storage: each stored alert returned once, those
raised in one microsecond and those committed after a later one included."""

from __future__ import annotations

import datetime as dt

import polars as pl

from patrol.follower import AlertFollower
from tracks.schema import ALERTS
from tracks.store import Store

T0 = 1_795_000_000.0


def write(store: Store, alert_id: str, raised_at: float) -> None:
    at = dt.datetime.fromtimestamp(raised_at, dt.UTC)
    store.write_alerts(
        pl.DataFrame(
            {
                "alert_id": [alert_id],
                "kind": ["overdue"],
                "grid_id": ["G1"],
                "device_id": [None],
                "ts": [at],
                "raised_at": [at],
                "detail": ["no visit for 30 min"],
            },
            schema=ALERTS.schema,
        )
    )


def test_each_stored_alert_is_returned_once(tmp_path):
    with Store(tmp_path / "gp.db") as store:
        write(store, "history", T0 - 100)
        follower = AlertFollower(store, clock=lambda: T0)
        assert follower.poll() == []  # stored before: history, not news
        write(store, "a", T0 + 10)
        write(store, "b", T0 + 10)  # the same microsecond
        first = follower.poll()
        assert [a.alert_id for a in first] == ["a", "b"]
        assert first[0].detail == "no visit for 30 min" and first[0].grid_id == "G1"
        write(store, "c", T0 + 10)  # the same microsecond, committed after the poll
        write(store, "d", T0 - 50)  # raised before them, committed late
        assert [a.alert_id for a in follower.poll()] == ["d", "c"]
        assert follower.poll() == []
        write(store, "e", T0 + 20)
        assert [a.alert_id for a in follower.poll()] == ["e"]
    assert follower.returned == 5
