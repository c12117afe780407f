"""The ``lake-roles`` scenario: ingest workers on a shared subscription writing one lake,
beside the single-file serve, in the same run; and the stage's lag under that load.

Each case publishes the same payloads (50 pings a message, four ``mosquitto_pub``
publishers, QoS 1) and measures pings per second from the first publish to the moment all are
stored: the single-file serve in this process (as ``e2e`` does, its commit hook counting),
then 1, 2 and 3 ``gridpatrol serve --role ingest`` processes on one lake (each lake a new
PostgreSQL database; the lake's counters are polled every 0.25 s). With 3 workers a
``--role stage`` process runs too; its ``/api/v1/health`` is sampled every 0.25 s for the lag
(snapshots not handled, and the age of the oldest), and the run's snapshots per second are
the catalog commits per second. On 2 cores the workers, the stage, Mosquitto, PostgreSQL and
the publishers share the same two cores: no scaling figure from here carries elsewhere.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

from bench.e2e import _payload_files, _publish, ingest_rate
from bench.result import Result
from gridpatrol.broker import Mosquitto, free_port
from gridpatrol.postgres import PostgresCluster
from tracks.engines import open_store
from tracks.queries import read_stats
from tracks.store import Store

PER_MESSAGE = 50
POLL_S = 0.25


@dataclass(frozen=True)
class LakeRun:
    workers: int
    pings: int
    rate: float  # pings/s, first publish to all stored
    seconds: float
    commits_per_s: float  # lake snapshots per second over the run
    lag_max_s: float  # the stage's largest lag (3 workers only; else nan)
    lag_max_snapshots: int
    files: int  # data files when all was stored
    files_after_merge: int  # after the stage's maintenance (with a stage only)
    postgres_cpu: float  # PostgreSQL's CPU over the run, in cores (1.0: one core busy)
    stage_rate: float  # pings/s the stage handled, first publish to caught up (or nan)
    with_stage: bool


def _serve(args: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "gridpatrol", "serve", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _snapshot_id(reader: Store) -> int:
    row = reader.cursor().execute("SELECT id FROM ducklake_current_snapshot('lake')").fetchone()
    assert row is not None
    return int(row[0])


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(60)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def _wait_healthy(url: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code in (200, 503):
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer in {timeout_s} s")


def lake_run(
    cluster: PostgresCluster,
    broker: Mosquitto,
    folder: Path,
    files: list[Path],
    total: int,
    workers: int,
    with_stage: bool,
) -> LakeRun:
    name = f"roles_{workers}_{int(with_stage)}"
    cluster.create_database(name)
    db, data = cluster.attach(name), folder / name
    open_store(db, data).close()  # created once, before the processes race to
    common = [
        "--db",
        db,
        "--data-path",
        str(data),
        "--broker",
        broker.url,
        "--session-expiry-s",
        "10",
    ]
    procs: list[subprocess.Popen[bytes]] = []
    health = ""
    if with_stage:
        port = free_port()
        health = f"http://127.0.0.1:{port}/api/v1/health"
        procs.append(
            _serve(
                [
                    "--role",
                    "stage",
                    *common,
                    "--client-id",
                    f"{name}-stage",
                    "--http",
                    f"127.0.0.1:{port}",
                    "--maintenance-every-s",
                    "5",
                    "--keep-snapshots-s",
                    "0",
                ]
            )
        )
    for w in range(workers):
        procs.append(
            _serve(
                [
                    "--role",
                    "ingest",
                    *common,
                    "--client-id",
                    f"{name}-w{w}",
                    "--share-group",
                    name,
                    "--http",
                    f"127.0.0.1:{free_port()}",
                ]
            )
        )
    lag_s, lag_snapshots, stage_done = 0.0, 0, float("nan")
    try:
        if with_stage:
            _wait_healthy(health)
        time.sleep(8.0)  # every worker subscribed (their start, on 2 cores, takes seconds)
        with open_store(db, data, read_only=True) as reader:
            first = _snapshot_id(reader)
            cpu = _postgres_cpu_s(cluster)
            started = time.perf_counter()
            pubs = _publish(broker, files)
            stored = 0
            while stored < total and time.perf_counter() - started < 600:
                time.sleep(POLL_S)
                stored = int(read_stats(reader)["received"])  # type: ignore[call-overload]
                if with_stage:
                    stage = httpx.get(health, timeout=5).json()["stage"]
                    lag_s = max(lag_s, stage["lag_s"])
                    lag_snapshots = max(lag_snapshots, stage["lag_snapshots"])
            seconds = time.perf_counter() - started
            cpu = (_postgres_cpu_s(cluster) - cpu) / seconds
            for p in pubs:
                p.wait()
            while with_stage and time.perf_counter() - started < 600:
                if httpx.get(health, timeout=5).json()["stage"]["lag_snapshots"] == 0:
                    stage_done = time.perf_counter() - started
                    break
                time.sleep(POLL_S)
            last = _snapshot_id(reader)
            files_now = _count_files(reader)
            files_after = files_now
            if with_stage:
                time.sleep(8.0)  # a maintenance round at least
                files_after = _count_files(reader)
    finally:
        _stop(procs)
    return LakeRun(
        workers,
        stored,
        stored / seconds,
        seconds,
        (last - first) / seconds,
        lag_s if with_stage else float("nan"),
        lag_snapshots,
        files_now,
        files_after,
        cpu,
        stored / stage_done,
        with_stage,
    )


def commit_ceiling(
    cluster: PostgresCluster, folder: Path, writers: int, seconds: float
) -> tuple[float, int, float]:
    """Lake commits per second with ``writers`` stores (each its own DuckDB, as processes
    would be) writing 100-ping batches back to back; and the commits that failed (retries run
    out), and PostgreSQL's CPU in cores meanwhile."""
    import threading

    import numpy as np
    import polars as pl

    from tracks.schema import PINGS, REJECTED

    name = f"ceiling_{writers}"
    cluster.create_database(name)
    db, data = cluster.attach(name), folder / name
    stores = [open_store(db, data) for _ in range(writers)]
    done, failed = [0] * writers, [0] * writers
    stop = time.perf_counter() + seconds

    def write(k: int) -> None:
        from tracks.store import StoreError

        i = 0
        while time.perf_counter() < stop:
            us = (1_700_000_000 + np.arange(100) + 100 * i) * 1_000_000
            frame = pl.DataFrame(
                {
                    "device_id": [f"w{k}"] * 100,
                    "ts": us,
                    "lat": 39.0,
                    "lon": 117.0,
                    "flags": np.zeros(100, np.uint8),
                    "received_at": us,
                }
            ).cast({"ts": PINGS.schema["ts"], "received_at": PINGS.schema["received_at"]})
            frame = frame.with_columns(
                *[pl.lit(None, PINGS.schema[c]).alias(c) for c in PINGS.names if c not in frame]
            ).select(PINGS.names)
            try:
                stores[k].write_batch(frame, REJECTED.empty(), {})
                done[k] += 1
            except StoreError:
                failed[k] += 1
            i += 1

    cpu = _postgres_cpu_s(cluster)
    started = time.perf_counter()
    threads = [threading.Thread(target=write, args=(k,)) for k in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    cpu = (_postgres_cpu_s(cluster) - cpu) / elapsed
    for store in stores:
        store.close()
    return sum(done) / elapsed, sum(failed), cpu


def _postgres_cpu_s(cluster: PostgresCluster) -> float:
    """CPU seconds used so far by the cluster's server processes (the postmaster's children)."""
    pid = int((cluster.data / "postmaster.pid").read_text().split()[0])
    total = 0.0
    postmaster = psutil.Process(pid)
    for p in [postmaster, *postmaster.children()]:
        try:
            times = p.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def _count_files(store: object) -> int:
    from tracks.changefeed import count_files
    from tracks.lake import LakeStore

    assert isinstance(store, LakeStore)
    return count_files(store)


def run_lake_roles(
    workdir: Path, n: int, smoke: bool
) -> tuple[float, list[LakeRun], tuple[float, int, float]]:
    """The single-file rate and the lake runs (1, 2, 3 workers; 3 again with a stage)."""
    folder = Path(tempfile.mkdtemp(dir=workdir))
    total = 20_000 if smoke else min(n, 1_000_000)
    messages = total // PER_MESSAGE
    files = _payload_files(folder, messages, PER_MESSAGE, time.time() - 3 * 86400)
    total = messages // 4 * 4 * PER_MESSAGE
    broker = Mosquitto(persistence=False).start()
    cluster = PostgresCluster().start()
    try:
        single, _ = ingest_rate(broker, folder / "single.db", files, total)
        runs = [
            lake_run(cluster, broker, folder, files, total, w, with_stage=False) for w in (1, 2, 3)
        ]
        runs.append(lake_run(cluster, broker, folder, files, total, 3, with_stage=True))
        ceiling = commit_ceiling(cluster, folder, 3, 2.0 if smoke else 10.0)
    finally:
        cluster.cleanup()
        broker.cleanup()
    return single, runs, ceiling


def scenario(workdir: Path, n: int, smoke: bool) -> list[Result]:
    """The scenario's rows."""
    single, runs, (commits, failed, cpu) = run_lake_roles(workdir, n, smoke)
    rows = []
    for r in runs:
        stage = " and a stage" if r.with_stage else ""
        note = (
            f"{r.pings} pings in {r.seconds:.1f} s; {r.commits_per_s:.0f} lake commits/s; "
            f"{r.files} data files; PostgreSQL {r.postgres_cpu * 100:.0f} % of a core"
        )
        if r.with_stage:
            note += f"; {r.files_after_merge} data files after the stage's maintenance"
        rows.append(
            Result(
                "lake-roles",
                f"{r.workers} ingest worker(s){stage} on a lake, {PER_MESSAGE} pings/msg",
                r.rate,
                "pings/s",
                "single-file serve, same payloads",
                single,
                note=note,
            )
        )
    last = runs[-1]
    rows.append(
        Result(
            "lake-roles",
            "stage lag under the 3-worker load, largest",
            last.lag_max_s,
            "s",
            note=f"{last.lag_max_snapshots} snapshots at most",
        )
    )
    rows.append(
        Result(
            "lake-roles",
            "stage: pings handled (duplicates, speed flags, progress), no grids",
            last.stage_rate,
            "pings/s",
            note="first publish to the stage caught up, 3 workers writing",
        )
    )
    rows.append(
        Result(
            "lake-roles",
            "lake commits/s, 3 writers of 100-ping batches back to back",
            commits,
            "commits/s",
            note=f"{failed} commits failed (retries ran out); PostgreSQL "
            f"{cpu * 100:.0f} % of a core",
        )
    )
    return rows
