"""Bench output: the run header, a Markdown table, RESULTS.md and PNG plots."""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import math
import os
import platform
import subprocess
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike

from bench.scenarios import Result

LIBRARIES = ("duckdb", "numba", "numpy", "polars", "paho-mqtt", "msgspec", "shapely")


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def header() -> str:
    versions = ", ".join(f"{n} {importlib.metadata.version(n)}" for n in LIBRARIES)
    mosquitto = subprocess.run(["mosquitto_pub", "--help"], capture_output=True, text=True)
    found = [line for line in mosquitto.stdout.splitlines() if "version" in line]
    broker = found[0].split(" running")[0] if found else "mosquitto_pub not found"
    return (
        f"commit {_commit()} | {_cpu()} | {os.cpu_count()} cores | Python "
        f"{platform.python_version()} | {versions} | {broker}"
    )


def _fmt(value: float) -> str:
    if math.isnan(value):
        return ""
    if abs(value) >= 1e4:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def table(results: list[Result]) -> str:
    lines = [
        "| scenario | case | value | unit | reference | reference value | ratio | note |",
        "| --- | --- | ---: | --- | --- | ---: | ---: | --- |",
    ]
    for r in results:
        ratio = f"{r.ratio:.2f}x" if not math.isnan(r.ratio) else ""
        lines.append(
            f"| {r.scenario} | {r.case} | {_fmt(r.value)} | {r.unit} | {r.reference} | "
            f"{_fmt(r.ref_value)} | {ratio} | {r.note} |"
        )
    return "\n".join(lines)


def record(results: list[Result], plots: dict[str, object], command: str, folder: Path) -> None:
    """Prepend this run to RESULTS.md; write the plots."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    section = f"## {stamp}\n\n`{command}`\n\n{header()}\n\n{table(results)}\n\n"
    path = folder / "RESULTS.md"
    title = "# Benchmark results (newest first)\n\n"
    old = path.read_text().removeprefix(title) if path.exists() else ""
    path.write_text(title + section + old)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def save(
        name: str, x: ArrayLike, y: ArrayLike, labels: tuple[str, str, str], log: bool
    ) -> None:
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.plot(x, y, marker="o" if log else None)
        if log:
            ax.set_xscale("log")
        ax.set_xlabel(labels[0])
        ax.set_ylabel(labels[1])
        ax.set_title(labels[2])
        ax.grid(True, alpha=0.3)
        fig.savefig(folder / name, dpi=100, bbox_inches="tight")
        plt.close(fig)

    if "batch" in plots:
        points = plots["batch"]
        assert isinstance(points, list)
        save(
            "throughput-vs-batch.png",
            [p[0] for p in points],
            [p[1] for p in points],
            (
                "pings per MQTT message",
                "pings/s, publish to commit",
                "Ingest throughput against batch size",
            ),
            log=True,
        )
    if "latency" in plots:
        latencies = np.sort(np.asarray(plots["latency"])) * 1e3
        save(
            "latency-cdf.png",
            latencies,
            np.arange(1, len(latencies) + 1) / len(latencies),
            ("publish-to-commit latency, ms", "share of pings", "Latency CDF at 5,000 pings/s"),
            log=False,
        )
