"""``python -m bench [-t a,b] [-n N] [--csv] [--smoke] [--record]``

Scenarios run one after another, each beside its reference in the same run. ``--record``
prepends the results to bench/RESULTS.md and writes PNG plots next to it.
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
from pathlib import Path

from base.spreadsheet import neutralise
from bench.report import header, record, table
from bench.scenarios import DEFAULT, SCENARIOS, Context, Result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "-t",
        "--tests",
        default=",".join(DEFAULT),
        help=f"comma-separated scenarios: {', '.join(SCENARIOS)}",
    )
    parser.add_argument("-n", type=int, default=1_000_000, help="size (points, pings, messages)")
    parser.add_argument("--csv", action="store_true", help="print CSV instead of a table")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: check the harness runs")
    parser.add_argument("--record", action="store_true", help="write bench/RESULTS.md and plots")
    parser.add_argument(
        "--workdir",
        type=Path,
        default=Path("bench/out"),
        help="where generated towns and databases are kept",
    )
    args = parser.parse_args(argv)
    names = [t.strip() for t in args.tests.split(",") if t.strip()]
    unknown = [t for t in names if t not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario(s) {unknown}; known: {', '.join(SCENARIOS)}")
    n = min(args.n, 20_000) if args.smoke else args.n
    workdir = Path(tempfile.mkdtemp()) if args.smoke else args.workdir
    workdir.mkdir(parents=True, exist_ok=True)
    ctx = Context(n=n, smoke=args.smoke, workdir=workdir, plots={})
    print(header(), file=sys.stderr)
    results: list[Result] = []
    for name in names:
        print(f"running {name} ...", file=sys.stderr)
        results += SCENARIOS[name](ctx)
    if args.csv:
        writer = csv.writer(sys.stdout)
        writer.writerow(
            ["scenario", "case", "value", "unit", "reference", "ref_value", "ratio", "note"]
        )
        for r in results:
            writer.writerow(
                [
                    neutralise(r.scenario),
                    neutralise(r.case),
                    f"{r.value:.6g}",
                    neutralise(r.unit),
                    neutralise(r.reference),
                    f"{r.ref_value:.6g}",
                    f"{r.ratio:.3g}",
                    neutralise(r.note),
                ]
            )
    else:
        print(table(results))
    if args.record and not args.smoke:
        command = "python -m bench " + " ".join(argv if argv is not None else sys.argv[1:])
        record(results, ctx.plots, command, Path(__file__).parent)
    return 0


if __name__ == "__main__":
    sys.exit(main())
