"""Fuzzed payloads: no crash, every ping stored or rejected with a reason, counters add up."""

from __future__ import annotations

import time

from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.config import IngestSettings
from ingest.decode import Decoder
from ingest.message import Message
from ingest.prepare import Preparer
from tests.faults.fuzz import run
from tracks.queries import read_stats
from tracks.store import Store


def test_a_hundred_thousand_mutated_payloads(tmp_path):
    totals = run(100_000, seed=20261122, db=str(tmp_path / "fuzz.db"))
    assert totals["messages"] == 100_000
    assert totals["received"] == totals["good"] + totals["rejected"]
    with Store(tmp_path / "fuzz.db", read_only=True) as store:
        stats = read_stats(store)
        rejected_rows = store.cursor().execute("SELECT count(*) FROM rejected").fetchone()
    rejected = stats["rejected"]
    assert isinstance(rejected, dict)
    assert stats["received"] == stats["stored"] + stats["duplicates"] + sum(rejected.values())
    # one row per message with bad pings, the counters in pings (ingest/rejections.py)
    assert 0 < rejected_rows[0] <= sum(rejected.values())
    assert len(rejected) >= 8  # the mutations reach many different reasons


json_values = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=False) | st.integers() | st.text(),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=5), children, max_size=5)
    ),
    max_leaves=20,
)
fields = st.fixed_dictionaries(
    {
        "ts": st.one_of(st.floats(), st.integers(), st.text(max_size=30)),
        "lat": st.one_of(st.floats(), st.text(max_size=5)),
        "lon": st.one_of(st.floats(), st.none()),
    },
    optional={
        "acc": json_values,
        "id": json_values,
        "_type": st.sampled_from(["location", "lwt", 3]),
    },
)


@settings(max_examples=400, deadline=None)
@given(
    payload=st.one_of(
        st.binary(max_size=300),
        json_values.map(lambda v: repr(v).encode()),
        fields.map(lambda d: __import__("json").dumps(d).encode()),
        st.lists(fields, max_size=5).map(lambda v: __import__("json").dumps(v).encode()),
    ),
    topic=st.sampled_from(["gridpatrol/v1/ping/hy-1", "owntracks/hy/phone", "x/y"]),
)
def test_hypothesis_payloads_never_crash_and_always_count(payload, topic):
    decoded = Decoder(max_payload_bytes=262144, max_batch_items=1000).decode([(topic, payload)])
    assert len(decoded) + len(decoded.rejections) + len(decoded.other) >= 1
    batch = Preparer(IngestSettings()).prepare([Message(topic, payload, time.time())])
    rejected = sum(v for k, v in batch.counters.items() if k.startswith("rejected."))
    assert batch.counters["received"] == (
        batch.pings.height + batch.counters.get("duplicates", 0) + rejected
    )
    assert batch.rejected.height <= 1  # one message: at most one row
