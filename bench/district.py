"""The ``district`` scenario: a district's month of reports, from the CLI and from the API.

The store (:func:`bench.data.build_district_month`): 1,652 Voronoi leaf grids under 17
parents, 500 devices (17 of them supervisors assigned to a parent; the workers roam a few
hundred metres around their leaf, a third on e-bikes), 31 days of a fix every 30 s in
service hours, written through ``Store.write_batch`` as serve writes it; cached in the
workdir under its parameters, and so is its derived copy (``gridpatrol derive`` once, then
``derive --stale`` each run). ``-n`` scales the devices (500 per million: ``-n 4000000``
for 2,000), ``--smoke`` takes the 76-grid town, a few devices and two days.

Measured, for windows of one day, 7 days and the 31-day month:

* ``gridpatrol report compliance|coverage|presence`` as a child process: the whole
  process's wall time (a cold start: imports, the store's open, the report, the JSON
  printed), and its peak resident memory (the child's VmHWM, sampled every 5 ms);
* in-process (FastAPI's test client on ``create_app``, no socket): GET /api/v1/compliance,
  /coverage, /presence for the day and the month, /scorecard for the day, /grids with live
  state.

Two paths side by side: the derived path (the plain commands) beside the
recompute-from-pings reference (``report --recompute``) for windows up to
RECOMPUTE_MAX_DAYS (a month of 2,000 devices recomputed holds about 15 GB), one run each.
A build whose ``report`` has no ``--recompute`` has only the recompute path: its figures are
measured alone, and the rows say so. Where both paths ran, their rows are compared.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import shutil
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.data import District, DistrictStore, build_district_month
from bench.result import Result

KINDS = ("compliance", "coverage", "presence")
#: The goals of issue 13 (the API) and 21 (the CLI's month, cold, and its memory at any
#: window up to 31 days), printed beside the figures.
GOAL_API_DAY_MS = 300.0
GOAL_API_MONTH_MS = {"compliance": 1000.0, "coverage": 2000.0, "presence": 1000.0}
GOAL_CLI_MONTH_S = {"compliance": 2.0, "coverage": 3.0}
GOAL_CLI_DAY_S = 1.0
GOAL_RSS_MB = 600.0
GOAL_GRIDS_MS = 100.0
#: The longest window the recompute reference runs for (its memory grows with pings).
RECOMPUTE_MAX_DAYS = 7
#: A call slower than this is timed once (the month's recompute takes tens of seconds);
#: faster ones are the best of four.
SLOW_S = 2.0


def district_for(n: int, smoke: bool) -> District:
    """The full district, its devices scaled by ``-n``; the town-sized one for ``--smoke``."""
    devices = max(5, round(500 * n / 1_000_000))
    if smoke:
        return District(
            name="district-smoke", grids=76, areas=4, radius_m=2500.0, devices=devices, days=2
        )
    return District(devices=devices)


@dataclass
class Child:
    """One finished ``python -m gridpatrol`` process."""

    seconds: float
    peak_rss_mb: float
    code: int
    out: Path
    err: Path

    def rows(self) -> Any:
        return json.loads(self.out.read_text()) if self.code == 0 else None

    def failure(self) -> str:
        tail = self.err.read_text(errors="replace").strip().splitlines()[-1:]
        return f"exit {self.code}: {' '.join(tail)}"


def run_child(args: list[str], out: Path) -> Child:
    """Run ``python -m gridpatrol ARGS``, stdout into ``out``: wall time and peak RSS.

    The peak is the child's own high-water mark (``VmHWM`` of /proc/PID/status, read until
    it exits): ``ru_maxrss`` from ``wait4`` would report the bench process's resident size
    at the fork whenever the child stays below it."""
    cmd = [sys.executable, "-m", "gridpatrol", "--log-level", "WARNING", *args]
    err = out.with_suffix(".err")
    status_file = None
    peak_kb = 0
    with out.open("wb") as stdout, err.open("wb") as stderr:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=stdout, stderr=stderr)
        status_file = Path(f"/proc/{proc.pid}/status")
        while proc.poll() is None:
            peak_kb = max(peak_kb, _high_water_kb(status_file))
            time.sleep(0.005)
        seconds = time.perf_counter() - t0
    return Child(seconds, peak_kb / 1024, proc.returncode, out, err)


def _high_water_kb(status: Path) -> int:
    """VmHWM of a running process, 0 once it is gone (or a zombie without memory)."""
    try:
        text = status.read_text()
    except OSError:
        return 0
    for line in text.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def best_child(args: list[str], out: Path, repeat: int) -> Child:
    """The fastest of ``repeat`` runs (each a fresh process: a cold start every time)."""
    runs = [run_child(args, out.with_name(f"{out.stem}-{k}{out.suffix}")) for k in range(repeat)]
    failed = [r for r in runs if r.code != 0]
    return failed[0] if failed else min(runs, key=lambda r: r.seconds)


def cli_help(*command: str) -> str | None:
    """``gridpatrol COMMAND --help``, or None when there is no such command."""
    done = subprocess.run(
        [sys.executable, "-m", "gridpatrol", *command, "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout if done.returncode == 0 else None


def same_rows(a: Any, b: Any, tol: float = 1e-6) -> bool:
    """Equal JSON values, numbers within ``tol`` (absolute, or relative for large ones)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_rows(a[k], b[k], tol) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_rows(x, y, tol) for x, y in zip(a, b, strict=True))
    if isinstance(a, int | float) and isinstance(b, int | float) and not isinstance(a, bool):
        return math.isclose(a, b, rel_tol=tol, abs_tol=tol) or (a != a and b != b)
    return bool(a == b)


@dataclass
class Paths:
    """What each path measured: case -> (value, note), and each case's output."""

    values: dict[str, tuple[float, str]] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)


def measure_cli(
    db: Path, district: District, flags: list[str], folder: Path, smoke: bool, repeat: int = 2
) -> Paths:
    """Each report kind for each window (:func:`windows`), and compliance of an hour
    without pings (the fixed cost of a cold start), as child processes, the best of
    ``repeat`` runs; with ``--recompute`` in ``flags`` only the windows up to
    RECOMPUTE_MAX_DAYS; with ``smoke`` one run of the month's compliance."""
    paths = Paths()
    spans = windows(district)
    first = district.window()[0]
    if "--recompute" in flags:
        spans = {k: w for k, w in spans.items() if w[1] - w[0] <= dt.timedelta(RECOMPUTE_MAX_DAYS)}
    jobs = [(label, window, kind) for label, window in spans.items() for kind in KINDS]
    jobs.append((EMPTY, (first - dt.timedelta(hours=1), first), "compliance"))
    month = jobs[-len(KINDS) - 1 : -len(KINDS)]  # the whole month's compliance
    for n, (label, (start, end), kind) in enumerate(month if smoke else jobs):
        args = [
            "report",
            kind,
            "--db",
            str(db),
            "--start",
            start.isoformat(),
            "--end",
            end.isoformat(),
            "--format",
            "json",
            *flags,
        ]
        run = best_child(args, folder / f"{kind}-{n}{''.join(flags)}.json", 1 if smoke else repeat)
        case = f"CLI report {kind}, {label}"
        if run.code != 0:
            paths.values[case] = (math.nan, run.failure())
            continue
        paths.values[case] = (run.seconds, f"peak RSS {run.peak_rss_mb:,.0f} MB")
        paths.values[case + ": peak RSS"] = (run.peak_rss_mb, "")
        paths.outputs[case] = run.rows()
    return paths


#: The window of the fixed-cost run: before the first fix.
EMPTY = "the hour before the month (no pings)"
DAY = "one day"


def windows(district: District) -> dict[str, tuple[dt.datetime, dt.datetime]]:
    """One day in the month's middle, the week around it, and the whole month (shorter
    windows left out of a shorter month)."""
    spans = {DAY: district.window(district.days // 2, 1)}
    if district.days > 7:
        spans["7 days"] = district.window(district.days // 2 - 3, 7)
    spans[f"{district.days} days"] = district.window()
    return spans


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Seconds of one call, or the best of four when the first took under SLOW_S; and
    the first call's result."""
    t0 = time.perf_counter()
    result = fn()
    best = time.perf_counter() - t0
    if best < SLOW_S:
        for _ in range(3):
            t0 = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - t0)
    return best, result


def measure_api(db: Path, district: District) -> Paths:
    """GET the report routes, the scorecard and /grids in-process, on ``db``."""
    with warnings.catch_warnings():  # starlette 1.x prefers httpx2 for its test client
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    from api.app import create_app
    from api.config import ApiSettings
    from api.context import ApiContext
    from geofence.config import GeofenceSettings
    from patrol.grids import read_grids
    from patrol.updater import LiveUpdater
    from tracks.store import Store

    paths = Paths()
    settings = GeofenceSettings(timezone=district.timezone)
    _, month_end = district.window()
    now = (month_end - dt.timedelta(hours=5)).timestamp()  # the last day's 19:00
    with Store(db, read_only=True) as store:
        grid_set = read_grids(store)
        assert grid_set is not None
        live = LiveUpdater(grid_set, settings, store, clock=lambda: now)
        context = ApiContext(
            store=store,
            grid_set=grid_set,
            live=live,
            geofence=settings,
            settings=ApiSettings(),
            tokens=None,
        )
        # without tokens the API answers a loopback Host only (api/middleware.py)
        with TestClient(create_app(context), base_url="http://127.0.0.1") as client:

            def get(url: str, **params: str) -> Callable[[], Any]:
                def call() -> Any:
                    response = client.get(url, params=params)
                    assert response.status_code == 200, response.text[:300]
                    return response.json()

                return call

            for label, (start, end) in windows(district).items():  # the day first
                for kind in KINDS:
                    call = get(f"/api/v1/{kind}", start=start.isoformat(), end=end.isoformat())
                    seconds, rows = _timed(call)
                    case = f"GET /{kind}, {label}"
                    paths.values[case] = (seconds * 1e3, f"{len(rows)} rows")
                    paths.outputs[case] = rows
                if label == DAY:
                    call = get("/api/v1/scorecard", date=start.date().isoformat())
                    seconds, rows = _timed(call)
                    paths.values[f"GET /scorecard, {label}"] = (seconds * 1e3, f"{len(rows)} rows")
                    paths.outputs[f"GET /scorecard, {label}"] = rows
            seconds, body = _timed(get("/api/v1/grids"))
            case = f"GET /grids with live state, {len(body['features'])} grids"
            paths.values[case] = (seconds * 1e3, "")
    return paths


def measure_recompute(db: Path, district: District) -> Paths:
    """The one day's reports of :func:`measure_api` by the recompute-from-pings path (what
    the routes ran before derived data: ``run_report(..., recompute=True)``), called
    in-process with the grid set built once, as serve holds it."""
    from geofence.config import GeofenceSettings
    from patrol.derive import ReportGrids
    from patrol.grids import read_grids
    from patrol.reports import run_report
    from patrol.scorecard import run_scorecard
    from tracks.store import Store

    paths = Paths()
    settings = GeofenceSettings(timezone=district.timezone)
    with Store(db, read_only=True) as store:
        grids = ReportGrids(store, read_grids(store))
        for label, (start, end) in list(windows(district).items())[:1]:
            for kind in KINDS:
                seconds, rows = _timed(
                    lambda k=kind, a=start, b=end: run_report(  # type: ignore[misc]
                        k, grids, store, a, b, settings, recompute=True
                    )
                )
                case = f"GET /{kind}, {label}"
                paths.values[case] = (seconds * 1e3, f"{len(rows)} rows")
                paths.outputs[case] = json.loads(json.dumps(rows))
            if label == DAY:
                day = start.date()
                seconds, rows = _timed(
                    lambda d=day: run_scorecard(  # type: ignore[misc]
                        grids, store, d, settings, recompute=True
                    )
                )
                paths.values[f"GET /scorecard, {label}"] = (seconds * 1e3, f"{len(rows)} rows")
                paths.outputs[f"GET /scorecard, {label}"] = json.loads(json.dumps(rows))
    return paths


def goal(case: str) -> str:
    """The issue's goal for a case, for the note."""
    kind = next((k for k in (*KINDS, "scorecard") if k in case), "")
    if case.startswith("GET /grids"):
        return f"goal < {GOAL_GRIDS_MS:.0f} ms"
    if case.startswith("GET"):
        ms = GOAL_API_DAY_MS if DAY in case else None
        ms = GOAL_API_MONTH_MS.get(kind) if case.endswith("31 days") else ms
        return f"goal < {ms:,.0f} ms" if ms else ""
    if case.endswith("peak RSS"):
        return "" if EMPTY in case else f"goal < {GOAL_RSS_MB:,.0f} MB"
    if EMPTY in case:
        return "" if case.endswith("RSS") else "what every report pays before its first ping"
    if DAY in case:
        return f"goal < {GOAL_CLI_DAY_S:.0f} s (cold start)"
    s = GOAL_CLI_MONTH_S.get(kind)
    month = case.endswith("31 days")
    return f"goal < {s:.0f} s (cold start)" if s and month else "no goal stated in the issues"


def rows_of(ours: Paths, ref: Paths | None, unit: str, derived: bool) -> list[Result]:
    results = []
    for case, (value, note) in ours.values.items():
        notes = [n for n in (note, goal(case)) if n]
        row = Result("district", case, value, "MB" if case.endswith("RSS") else unit)
        if ref is not None and case in ref.values:
            row.reference = "recompute from pings"
            row.ref_value, ref_note = ref.values[case]
            if ref_note and not case.endswith("RSS"):
                notes.append(f"recompute: {ref_note}")
            if case in ours.outputs and case in ref.outputs:
                same = same_rows(ours.outputs[case], ref.outputs[case])
                notes.append("same rows" if same else "ROWS DIFFER from the recompute")
        elif not derived:
            notes.append("recompute path only: report has no --recompute yet")
        row.note = "; ".join(notes)
        results.append(row)
    return results


def derived_copy(
    built: DistrictStore, spec: District, workdir: Path, folder: Path
) -> tuple[Path, Result]:
    """The store's copy with every day derived (``gridpatrol derive``), kept in the workdir
    beside it; a kept one gets ``derive --stale`` (0 stale days when nothing changed)."""
    copy = workdir / f"{spec.key}-derived.db"
    marker = workdir / f"{spec.key}-derived.json"
    row = Result("district", "gridpatrol derive of the month", math.nan, "s")
    if copy.exists() and marker.exists():
        info = json.loads(marker.read_text())
        stale = run_child(["derive", "--db", str(copy), "--stale"], folder / "stale.out")
        row.value = info["seconds"]
        row.note = (
            f"peak RSS {info['peak_rss_mb']:,.0f} MB; cached: derived earlier; "
            f"derive --stale now: {stale.out.read_text().strip().splitlines()[-1]}"
        )
        return copy, row
    copy.unlink(missing_ok=True)
    shutil.copy(built.db, copy)
    run = run_child(["derive", "--db", str(copy)], folder / "derive.out")
    if run.code != 0:
        row.note = run.failure()
        return copy, row
    marker.write_text(json.dumps({"seconds": run.seconds, "peak_rss_mb": run.peak_rss_mb}))
    row.value = run.seconds
    row.note = f"peak RSS {run.peak_rss_mb:,.0f} MB; derived now"
    return copy, row


def run_district(workdir: Path, n: int, smoke: bool) -> list[Result]:
    """Build (or reuse) the store in ``workdir``, measure both paths: the rows."""
    spec = district_for(n, smoke)
    load_before = os.getloadavg()[0]
    built: DistrictStore = build_district_month(spec, workdir)
    size = (
        f"{spec.grids:,} grids under {spec.areas} parents, {spec.devices} devices, "
        f"{spec.days} days, {built.pings:,} pings"
    )
    how = "cached: built earlier" if built.cached else "built now"
    results = [
        Result(
            "district",
            f"build the store: {size}, through Store.write_batch",
            built.build_s,
            "s",
            note=f"{built.bytes / 1e9:.2f} GB on disk; {how}",
        )
    ]
    folder = workdir / f"{spec.key}-runs"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    derived = "--recompute" in (cli_help("report") or "") and cli_help("derive") is not None
    if derived:
        ref_cli = measure_cli(built.db, spec, ["--recompute"], folder, smoke, repeat=1)
        copy, row = derived_copy(built, spec, workdir, folder)
        row.case += f" ({size})"
        results.append(row)
        ours_cli = measure_cli(copy, spec, [], folder, smoke)
        results += rows_of(ours_cli, ref_cli, "s", derived)
        results += rows_of(
            measure_api(copy, spec), measure_recompute(built.db, spec), "ms", derived
        )
    else:
        results += rows_of(measure_cli(built.db, spec, [], folder, smoke), None, "s", derived)
        results += rows_of(measure_api(built.db, spec), None, "ms", derived)
    # a shared machine: the figures mean little without the load they were taken under
    results[0].note += f"; load average (1 min) {load_before:.2f} at start, "
    results[0].note += f"{os.getloadavg()[0]:.2f} at end"
    return results
