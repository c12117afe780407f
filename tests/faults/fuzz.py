"""A mutation fuzzer for the decoders: ``python -m tests.faults.fuzz -n 1000000 [--seed S]``.

Takes valid native and OwnTracks payloads, mutates them (byte flips, truncation, splices,
type swaps, huge and deeply nested values, non-UTF-8), runs them through the real prepare
step, and checks that nothing crashes and every ping is stored or rejected with a reason.
The test suite runs it with 100,000 payloads; run it longer by hand.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time

from ingest.config import IngestSettings
from ingest.message import Message
from ingest.prepare import Preparer
from ingest.reasons import Reason
from tracks.store import Store

TOPICS = [
    "gridpatrol/v1/ping/fz-1",
    "owntracks/fz/phone",
    "gridpatrol/v1/ping/fz-2",
    "gridpatrol/v1/ping/bad topic!",
    "owntracks/only",
]


def seeds(now: float) -> list[bytes]:
    native = {"ts": now, "lat": 39.06, "lon": 117.16, "acc": 5, "spd": 3.2, "hdg": 90, "bat": 80}
    owntracks = {
        "_type": "location",
        "lat": 39.06,
        "lon": 117.16,
        "tst": int(now),
        "acc": 9,
        "vel": 12,
        "batt": 50,
    }
    return [
        json.dumps(native).encode(),
        json.dumps([native, native]).encode(),
        json.dumps(owntracks).encode(),
        b'{"_type": "lwt", "tst": 1}',
    ]


def mutate(rng: random.Random, payload: bytes) -> bytes:
    data = bytearray(payload)
    for _ in range(rng.randint(1, 4)):
        kind = rng.randrange(9)
        if kind == 0 and data:  # flip a byte
            data[rng.randrange(len(data))] = rng.randrange(256)
        elif kind == 1 and data:  # truncate
            del data[rng.randrange(len(data)) :]
        elif kind == 2:  # splice a fragment
            at = rng.randrange(len(data) + 1)
            data[at:at] = rng.choice(
                [
                    b"null",
                    b'"1"',
                    b"1e999",
                    b"-0",
                    b"[",
                    b"}",
                    b"\xff\xfe",
                    b'"\\ud800"',
                    b"true",
                    b"1" * 400,
                    b",",
                ]
            )
        elif kind == 3:  # numbers as strings
            data = bytearray(data.replace(b"39.06", b'"39.06"'))
        elif kind == 4:  # deep nesting
            depth = rng.choice([10, 1000, 3000])
            data = bytearray(b"[" * depth + bytes(data) + b"]" * depth)
        elif kind == 5:  # huge
            data += b" " * rng.choice([10, 300_000])
        elif kind == 6:  # arrays of wrong types
            data = bytearray(b"[" + bytes(data) + b', 1, "x", null, [], {}]')
        elif kind == 7:  # clock trouble: 1901, 2000, an hour ahead, milliseconds, no offset
            token = rng.choice(
                [
                    b"-2177452800",
                    b"946684800",
                    str(int(time.time()) + 3600).encode(),
                    b"1763600000000",
                    b'"2000-01-01T00:00:00"',
                ]
            )
            data = bytearray(data.replace(b'"ts": ', b'"ts": ' + token + b', "old_ts": '))
        else:  # swap a key
            data = bytearray(data.replace(b'"lat"', rng.choice([b'"lon"', b'"LAT"', b'"id"'])))
    return bytes(data)


def run(count: int, seed: int, db: str, batch: int = 5000) -> dict[str, int]:
    rng = random.Random(seed)
    with Store(db) as store:
        preparer = Preparer(IngestSettings())
        totals = {"received": 0, "good": 0, "rejected": 0, "messages": 0}
        done = 0
        while done < count:
            now = time.time()
            base = seeds(now)
            messages = [
                Message(rng.choice(TOPICS), mutate(rng, rng.choice(base)), now)
                for _ in range(min(batch, count - done))
            ]
            prepared = preparer.prepare(messages)
            result = store.write_batch(
                prepared.pings, prepared.rejected, prepared.counters, prepared.events
            )
            assert set(prepared.rejected["reason"].to_list()) <= {r.value for r in Reason}
            received = prepared.counters["received"]
            dup = prepared.counters.get("duplicates", 0)
            rejected = sum(v for k, v in prepared.counters.items() if k.startswith("rejected."))
            assert received == prepared.pings.height + dup + rejected
            assert prepared.rejected.height <= len(messages)  # a row per message at most
            totals["received"] += received
            totals["good"] += result.stored + result.duplicates + dup
            totals["rejected"] += rejected
            totals["messages"] += len(messages)
            done += len(messages)
    return totals


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.faults.fuzz", description=__doc__)
    parser.add_argument("-n", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("--db", default="fuzz.db")
    args = parser.parse_args()
    totals = run(args.n, args.seed, args.db)
    print(f"seed {args.seed}: {totals}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
