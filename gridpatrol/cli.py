"""The ``gridpatrol`` command line. Bad flags or files: one clear line, exit 2, no traceback."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from gridpatrol.errors import GridpatrolError
from gridpatrol.settings import build_settings
from ingest.config import IngestSettings


def _add_settings_flags(parser: argparse.ArgumentParser, cls: type) -> None:
    for f in dataclasses.fields(cls):
        flag = "--" + f.name.replace("_", "-")
        kind = type(f.default)
        if kind is bool:
            parser.add_argument(flag, action="store_true", default=None, help=f.metadata["help"])
        else:
            parser.add_argument(flag, type=kind, default=None, help=f.metadata["help"])


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gridpatrol", description=__doc__)
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING or ERROR")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="receive pings over MQTT and store them")
    serve.add_argument("--db", type=Path, required=True, help="DuckDB file (created if absent)")
    serve.add_argument("--devices", type=Path, help="devices CSV to import at start")
    _add_settings_flags(serve, IngestSettings)

    stats = commands.add_parser("stats", help="print the ingest counters")
    stats.add_argument("--db", type=Path, required=True)
    stats.add_argument("--format", choices=("table", "json"), default="table")

    devices = commands.add_parser("devices", help="manage the device registry")
    devices_cmd = devices.add_subparsers(dest="devices_command", required=True)
    dev_import = devices_cmd.add_parser("import", help="load device_id,kind,worker,grid_id CSV")
    dev_import.add_argument("file", type=Path)
    dev_import.add_argument("--db", type=Path, required=True)
    return parser


def _run(args: argparse.Namespace) -> int:
    from tracks.queries import import_devices, read_stats
    from tracks.store import Store

    if args.command == "serve":
        from gridpatrol.serve import ServeOptions, serve

        ingest = build_settings(IngestSettings, "ingest", vars(args))
        return serve(ServeOptions(db=args.db, devices=args.devices), ingest)
    if args.command == "stats":
        if not args.db.exists():
            raise GridpatrolError(f"{args.db}: no such database")
        with Store(args.db, read_only=True) as store:
            stats = read_stats(store)
        if args.format == "json":
            keys = ("received", "stored", "duplicates", "rejected")
            print(json.dumps({k: stats[k] for k in keys}))
        else:
            _print_stats(stats)
        return 0
    if args.command == "devices":
        with Store(args.db) as store:
            count = import_devices(store, args.file)
        print(f"imported {count} devices")
        return 0
    raise AssertionError(args.command)


def _print_stats(stats: dict[str, object]) -> None:
    for key in ("received", "stored", "duplicates"):
        print(f"{key:<28}{stats[key]:>12}")
    for group in ("rejected", "other"):
        values = stats[group]
        assert isinstance(values, dict)
        print(f"{group:<28}{sum(values.values()):>12}")
        for reason, count in values.items():
            print(f"  {reason:<26}{count:>12}")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return _run(args)
    except GridpatrolError as exc:
        print(f"gridpatrol: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
