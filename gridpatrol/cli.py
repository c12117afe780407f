"""The ``gridpatrol`` command line. Bad flags or files: one clear line, exit 2, no traceback."""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from api.config import ApiSettings
from base.errors import GridpatrolError
from base.settings import build_settings
from geofence.config import GeofenceSettings
from gridpatrol.roles import ROLE_HELP, Role, ServeOptions
from ingest.config import IngestSettings
from ingest.jt808.config import Jt808Settings
from patrol.config import LIVE_SETTINGS_PREFIX, LiveSettings, RetentionSettings, StageSettings

if TYPE_CHECKING:
    from patrol.derive import ReportGrids
    from tracks.store import Store


def _add_settings_flags(parser: argparse.ArgumentParser, cls: type) -> None:
    for f in dataclasses.fields(cls):
        flag = "--" + f.name.replace("_", "-")
        kind = type(f.default)
        if kind is bool:
            parser.add_argument(flag, action="store_true", default=None, help=f.metadata["help"])
        else:
            parser.add_argument(flag, type=kind, default=None, help=f.metadata["help"])


def _add_db_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db",
        required=True,
        help="DuckDB file (created if absent), or a DuckLake: "
        "'ducklake:postgres:dbname=NAME host=H port=P user=U'",
    )
    parser.add_argument(
        "--data-path",
        type=Path,
        help="a DuckLake's folder of Parquet files (the one it was created with)",
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gridpatrol", description=__doc__)
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING or ERROR")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="receive pings over MQTT and store them")
    _add_db_flags(serve)
    serve.add_argument("--devices", type=Path, help="devices CSV to import at start")
    serve.add_argument("--grids", type=Path, help="GeoJSON grid file to import at start")
    serve.add_argument("--http", help="HOST:PORT to serve the API and the live map on")
    serve.add_argument("--tokens", type=Path, help="tokens file (gridpatrol tokens add)")
    serve.add_argument("--role", choices=[str(r) for r in Role], default="all", help=ROLE_HELP)
    serve.add_argument(
        "--lake-commit-retries",
        type=int,
        help="a lake commit conflicting with other writers' is tried again this "
        "often (DuckLake's default: 10); then the batch is retried whole, "
        "unacknowledged",
    )
    _add_settings_flags(serve, IngestSettings)
    _add_settings_flags(serve, GeofenceSettings)
    _add_settings_flags(serve, LiveSettings)
    _add_settings_flags(serve, ApiSettings)
    _add_settings_flags(serve, StageSettings)
    _add_settings_flags(serve, RetentionSettings)
    serve.set_defaults(func=_serve_command)
    _add_purge_parser(commands)
    _add_backup_parsers(commands)

    tokens = commands.add_parser("tokens", help="manage API bearer tokens")
    tokens_cmd = tokens.add_subparsers(dest="tokens_command", required=True)
    t_add = tokens_cmd.add_parser("add", help="create a token; it is printed once, last line")
    t_add.add_argument("--file", type=Path, required=True)
    t_add.add_argument("--role", choices=("admin", "supervisor", "metrics"), required=True)
    t_add.add_argument("--grid", action="append", default=[], help="a supervisor's grid (repeat)")
    t_add.add_argument("--name", default="", help="who holds it")
    t_add.set_defaults(func=_token_add_command)
    t_list = tokens_cmd.add_parser("list", help="list tokens (never the tokens themselves)")
    t_list.add_argument("--file", type=Path, required=True)
    t_list.set_defaults(func=_token_list_command)
    t_revoke = tokens_cmd.add_parser("revoke", help="revoke a token by its id")
    t_revoke.add_argument("--file", type=Path, required=True)
    t_revoke.add_argument("id")
    t_revoke.set_defaults(func=_token_revoke_command)

    lake = commands.add_parser("lake", help="DuckLake upkeep")
    lake_cmd = lake.add_subparsers(dest="lake_command", required=True)
    migrate = lake_cmd.add_parser(
        "migrate",
        help="bring a lake of gridpatrol on DuckDB 1.4 (DuckLake format 0.3) to this "
        "gridpatrol's format, one way; stop every process on the lake and back it up first",
    )
    _add_db_flags(migrate)
    migrate.set_defaults(func=_lake_migrate_command)

    access = commands.add_parser(
        "access", help="print the access log: who read which track, positions, export, report"
    )
    _add_db_flags(access)
    access.add_argument("--since", required=True, help="ISO 8601 time with a UTC offset")
    access.add_argument("--format", choices=("table", "json"), default="table")
    access.set_defaults(func=_access_command)

    stats = commands.add_parser("stats", help="print the ingest counters")
    _add_db_flags(stats)
    stats.add_argument("--format", choices=("table", "json"), default="table")
    stats.set_defaults(func=_stats_command)

    devices = commands.add_parser("devices", help="manage the device registry")
    devices_cmd = devices.add_subparsers(dest="devices_command", required=True)
    dev_import = devices_cmd.add_parser("import", help="load device_id,kind,worker,grid_id CSV")
    dev_import.add_argument("file", type=Path)
    _add_db_flags(dev_import)
    dev_import.set_defaults(func=_devices_import_command)
    roster = commands.add_parser("roster", help="the roster (排班): who should be where, when")
    roster_cmd = roster.add_subparsers(dest="roster_command", required=True)
    r_import = roster_cmd.add_parser(
        "import", help="replace the roster with a CSV or xlsx (docs/rules.md, Rosters)"
    )
    r_import.add_argument("file", type=Path)
    _add_db_flags(r_import)
    r_import.set_defaults(func=_roster_import_command)
    calendar = commands.add_parser("calendar", help="holidays and make-up working days")
    calendar_cmd = calendar.add_subparsers(dest="calendar_command", required=True)
    c_import = calendar_cmd.add_parser(
        "import", help="load date,kind (holiday|workday) rows, replacing the years listed"
    )
    c_import.add_argument("file", type=Path)
    _add_db_flags(c_import)
    c_import.set_defaults(func=_calendar_import_command)
    grids = commands.add_parser("grids", help="import, check or generate grid files")
    grids_cmd = grids.add_subparsers(dest="grids_command", required=True)
    g_import = grids_cmd.add_parser(
        "import", help="check a grid file (GeoJSON, .shp or .zip) and store it as WGS-84"
    )
    g_import.add_argument("file", type=Path)
    _add_db_flags(g_import)
    g_import.add_argument("--repair", action="store_true", help="fix what can be fixed")
    _add_grid_source_flags(g_import)
    g_import.set_defaults(func=_grids_check_command)
    g_check = grids_cmd.add_parser(
        "check", help="check a grid file, store nothing; with --db, check its datum too"
    )
    g_check.add_argument("file", type=Path)
    g_check.add_argument("--repair", action="store_true")
    _add_grid_source_flags(g_check)
    g_check.add_argument(
        "--db",
        help="a store whose usable fixes of recent days test the file's datum "
        "(a DuckDB file or ducklake:...)",
    )
    g_check.add_argument("--data-path", type=Path, help="a lake's Parquet folder")
    g_check.add_argument(
        "--days", type=int, default=7, help="days of fixes before the newest (default 7)"
    )
    g_check.set_defaults(func=_grids_check_command)
    g_gen = grids_cmd.add_parser("generate", help="write square unit grids as GeoJSON")
    g_gen.add_argument("--bbox", required=True, help="W,S,E,N in degrees")
    g_gen.add_argument("--cell-m", type=float, default=100.0, help="side of a cell, m")
    g_gen.add_argument("--parent-every", type=int, default=0, help="N: N x N cells per parent")
    g_gen.add_argument("--out", type=Path, help="file to write (default: stdout)")
    g_gen.set_defaults(func=_grids_generate_command)

    report = commands.add_parser(
        "report", help="compliance, coverage, presence or the scorecard over a window"
    )
    report.add_argument(
        "kind",
        choices=("compliance", "coverage", "presence", "scorecard", "all", "attendance"),
        help="scorecard: each worker's daily scores and their means over the "
        "whole days of the window; all: every report (json or xlsx); attendance: one row "
        "per worker-shift of the roster starting in the window",
    )
    _add_db_flags(report)
    report.add_argument("--start", required=True, help="ISO 8601 time with offset")
    report.add_argument("--end", required=True, help="ISO 8601 time with offset")
    report.add_argument("--grid", help="only this grid's row")
    report.add_argument("--device", help="coverage or presence of this device only")
    report.add_argument("--format", choices=("table", "csv", "json", "xlsx"), default="table")
    report.add_argument("--out", type=Path, help="the file to write (needed for xlsx)")
    report.add_argument(
        "--lang",
        choices=("zh", "en"),
        default="zh",
        help="xlsx headers: Chinese over the English keys, or English",
    )
    report.add_argument(
        "--recompute",
        action="store_true",
        help="recompute from every ping of the window instead of the derived "
        "data (an audit; the same rows, slower)",
    )
    _add_settings_flags(report, GeofenceSettings)
    report.set_defaults(func=_report_command)

    derive = commands.add_parser(
        "derive", help="rebuild the derived patrol data of each day from the stored pings"
    )
    _add_db_flags(derive)
    derive.add_argument("--start", help="first day, YYYY-MM-DD (default: the first ping's)")
    derive.add_argument("--end", help="last day, YYYY-MM-DD (default: the last ping's)")
    derive.add_argument(
        "--stale", action="store_true", help="only the days not derived or changed since"
    )
    _add_settings_flags(derive, GeofenceSettings)
    derive.set_defaults(func=_derive_command)
    bconf = commands.add_parser("broker-config", help="Mosquitto passwd, ACL and config files")
    bconf.add_argument("--devices", type=Path, required=True, help="devices CSV (device_id,...)")
    bconf.add_argument("--out", type=Path, required=True, help="folder to write into")
    bconf.add_argument("--port", type=int, default=1883, help="listener port of the config")
    bconf.add_argument("--rotate", action="store_true", help="new passwords for everyone")
    bconf.set_defaults(func=_broker_config_command)

    demo = commands.add_parser("demo", help="broker, serve and the simulated town in one go")
    demo.add_argument("--duration", type=float, help="stop after this many seconds")
    demo.add_argument("--speedup", type=float, default=180.0, help="simulated seconds per second")
    demo.add_argument("--seed", type=int, default=1)
    demo.add_argument("--hours", type=float, default=12.0, help="length of the simulated day")
    demo.add_argument("--workdir", type=Path, default=Path(".demo"), help="where the database goes")
    demo.set_defaults(func=_demo_command)

    simulate = commands.add_parser("simulate", help="publish the simulated fleet to a broker")
    simulate.add_argument("--broker", required=True, help="mqtt://HOST:PORT")
    simulate.add_argument("--grids", type=Path, required=True)
    simulate.add_argument("--devices", type=Path, required=True)
    simulate.add_argument("--speedup", type=float, default=180.0)
    simulate.add_argument("--seed", type=int, default=1)
    simulate.add_argument("--hours", type=float, default=12.0)
    simulate.add_argument("--duration", type=float, help="stop after this many seconds")
    simulate.add_argument(
        "--protocol",
        choices=("mqtt", "jt808"),
        default="mqtt",
        help="how the trackers report: MQTT, or JT/T 808 to --gateway",
    )
    simulate.add_argument("--gateway", help="HOST:PORT of a JT/T 808 gateway (gridpatrol jt808)")
    simulate.set_defaults(func=_simulate_command)
    demo.add_argument(
        "--trackers",
        choices=("mqtt", "jt808"),
        default="mqtt",
        help="jt808: the trackers speak JT/T 808 to a gateway beside serve",
    )

    jt808 = commands.add_parser("jt808", help="a JT/T 808 gateway: TCP terminals to MQTT pings")
    _add_settings_flags(jt808, Jt808Settings)
    jt808.set_defaults(func=_jt808_command)
    bconf.add_argument(
        "--terminals",
        type=Path,
        help="JT/T 808 terminal registry CSV: an account gridpatrol-jt808 for the gateway, "
        "which may publish only these terminals' devices",
    )
    _add_terminals_commands(commands)
    return parser


def _add_terminals_commands(commands: argparse._SubParsersAction) -> None:
    terminals = commands.add_parser("terminals", help="the JT/T 808 terminal registry")
    cmd = terminals.add_subparsers(dest="terminals_command", required=True)
    t_import = cmd.add_parser(
        "import", help="load phone,terminal_id,plate,device_id CSV (codes issued are kept)"
    )
    t_import.add_argument("file", type=Path)
    _add_db_flags(t_import)
    t_import.set_defaults(func=_terminals_import_command)
    t_reset = cmd.add_parser(
        "reset", help="forget a terminal's code: its next registration is answered (recorded)"
    )
    t_reset.add_argument("phone", help="the terminal phone number")
    t_reset.add_argument("--reason", default="", help="recorded with the reset")
    _add_db_flags(t_reset)
    t_reset.set_defaults(func=_terminals_reset_command)
    t_list = cmd.add_parser("list", help="the registry: each terminal and whether it registered")
    _add_db_flags(t_list)
    t_list.set_defaults(func=_terminals_list_command)


def _terminals_import_command(args: argparse.Namespace) -> int:
    from tracks.engines import open_store
    from tracks.terminals import import_terminals

    with open_store(args.db, args.data_path) as store:
        count = import_terminals(store, args.file)
    print(f"imported {count} terminals")
    return 0


def _terminals_reset_command(args: argparse.Namespace) -> int:
    import getpass

    from tracks.engines import open_store
    from tracks.terminals import reset_terminal

    detail = f"by {getpass.getuser()}" + (f": {args.reason}" if args.reason else "")
    with open_store(args.db, args.data_path) as store:
        if not reset_terminal(store, args.phone, detail):
            raise GridpatrolError(f"{args.phone}: no such terminal in the registry")
    print(f"reset {args.phone}: its next registration (0x0100) gets a new code")
    return 0


def _terminals_list_command(args: argparse.Namespace) -> int:
    from tracks.engines import open_store
    from tracks.terminals import read_terminals

    with open_store(args.db, args.data_path, read_only=True) as store:
        frame = read_terminals(store)
    print("phone,terminal_id,plate,device_id,registered_at")
    for row in frame.iter_rows(named=True):
        at = row["registered_at"].isoformat() if row["registered_at"] else ""
        print(f"{row['phone']},{row['terminal_id']},{row['plate']},{row['device_id']},{at}")
    return 0


def _parse_time(text: str, flag: str) -> dt.datetime:
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise GridpatrolError(f"{flag}: {text!r} is not an ISO 8601 time") from exc
    if value.tzinfo is None:
        raise GridpatrolError(f"{flag}: {text!r} needs a UTC offset, e.g. +08:00")
    if not 1971 <= value.year <= 9998:
        raise GridpatrolError(f"{flag}: {text!r} is out of range (years 1971 to 9998)")
    return value


def _broker_config_command(args: argparse.Namespace) -> int:
    from base.devicefile import check_device_ids, read_devices_csv
    from gridpatrol.brokerconfig import write_broker_config

    frame = read_devices_csv(args.devices)  # ids as text: a leading zero stays
    if "device_id" not in frame.columns:
        raise GridpatrolError(f"{args.devices}: no device_id column")
    devices = frame["device_id"].to_list()
    check_device_ids(args.devices, devices)
    terminals = _terminal_devices(args.terminals)
    try:
        files = write_broker_config(
            devices, args.out, port=args.port, rotate=args.rotate, terminal_devices=terminals
        )
    except ValueError as exc:
        raise GridpatrolError(str(exc)) from exc
    print(f"wrote {files.passwd}, {files.acl}, {files.credentials} (mode 0600), {files.config}")
    print(f"start the broker with: mosquitto -c {files.config}")
    return 0


def _terminal_devices(path: Path | None) -> list[str] | None:
    if path is None:
        return None
    from tracks.terminals import parse_terminals

    return parse_terminals(path)["device_id"].to_list()


def _token_add_command(args: argparse.Namespace) -> int:
    from api.tokens import add_token

    entry, token = add_token(args.file, args.role, args.grid, args.name)
    scope = ",".join(entry.grids) or "all grids"
    print(f"token {entry.id} ({entry.role}, {scope}) added to {args.file}; shown once:")
    print(token)
    return 0


def _token_list_command(args: argparse.Namespace) -> int:
    from api.tokens import read_tokens

    for e in read_tokens(args.file):
        print(f"{e.id}  {e.role:<10}  {','.join(e.grids) or '*':<20}  {e.created}  {e.name}")
    return 0


def _token_revoke_command(args: argparse.Namespace) -> int:
    from api.tokens import revoke_token

    if not revoke_token(args.file, args.id):
        raise GridpatrolError(f"no token {args.id!r} in {args.file}")
    print(f"revoked {args.id}")
    return 0


def _simulate_command(args: argparse.Namespace) -> int:
    import time

    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion
    from rich.progress import Progress

    from geofence.grids import load_grids
    from gridpatrol.demo import read_sim_devices
    from gridpatrol.simulate import plan_messages, publish_plan
    from ingest.mqtt import parse_broker_url

    host, port = parse_broker_url(args.broker)
    grid_set = load_grids(args.grids)
    devices = read_sim_devices(args.devices)
    if args.protocol == "jt808" and not args.gateway:
        raise GridpatrolError("--protocol jt808 needs --gateway HOST:PORT")
    unknown = [d.grid_id for d in devices if d.grid_id not in grid_set.ids]
    if unknown:
        raise GridpatrolError(
            f"{args.devices}: devices assigned to unknown leaf grids {unknown[:5]}"
        )
    real_start = time.time()
    sim_start = real_start - args.hours * 3600
    stop_at = real_start + (args.duration or args.hours * 3600 / args.speedup)
    client = paho.Client(
        CallbackAPIVersion.VERSION2, client_id="gridpatrol-simulator", protocol=paho.MQTTv5
    )
    client.max_inflight_messages_set(1000)
    try:
        client.connect(host, port)
    except OSError as exc:
        raise GridpatrolError(f"cannot connect to {args.broker}: {exc}") from exc
    client.loop_start()
    fleet = None
    if args.protocol == "jt808":
        from gridpatrol.fleet808 import Fleet808, Router, jt808_devices
        from ingest.jt808.config import parse_host_port

        devices = jt808_devices(devices)
        fleet = Fleet808(*parse_host_port(args.gateway), sim_start=sim_start)
        trackers = {d.device_id for d in devices if d.kind == "tracker"}
        print(f"JT/T 808 trackers report as devices {min(trackers)} to {max(trackers)}")
    plan = plan_messages(grid_set, devices, seed=args.seed, start=sim_start, hours=args.hours)
    with Progress() as progress:
        task = progress.add_task("simulated day", total=args.hours * 3600)
        sent = publish_plan(
            client if fleet is None else Router(client, fleet, trackers),
            plan,
            sim_start=sim_start,
            real_start=real_start,
            speedup=args.speedup,
            stop_at=stop_at,
            on_progress=lambda at: progress.update(task, completed=at - sim_start),
        )
    if fleet is not None:
        fleet.stop()
        print(f"JT/T 808 trackers: {fleet.reported} fixes answered by the gateway")
    client.disconnect()
    client.loop_stop()
    print(f"published {sent} messages")
    return 0


def _grids_generate_command(args: argparse.Namespace) -> int:
    from geofence.generate import square_grids

    try:
        bbox = tuple(float(v) for v in args.bbox.split(","))
    except ValueError as exc:
        raise GridpatrolError(f"--bbox: {args.bbox!r} is not W,S,E,N") from exc
    if len(bbox) != 4 or bbox[0] >= bbox[2] or bbox[1] >= bbox[3] or args.cell_m <= 0:
        raise GridpatrolError("--bbox must be W,S,E,N with W < E and S < N; --cell-m > 0")
    text = json.dumps(
        square_grids((bbox[0], bbox[1], bbox[2], bbox[3]), args.cell_m, args.parent_every)
    )
    if args.out:
        args.out.write_text(text)
    else:
        print(text)
    return 0


#: The import flags naming a grid file's fields: (flag, our property, its default).
FIELD_FLAGS = (
    ("--id-field", "id", "id"),
    ("--name-field", "name", "name"),
    ("--parent-field", "parent", "parent"),
    ("--interval-field", "interval_min", "interval_min; a shapefile's: interval"),
    ("--hours-field", "service_hours", "service_hours; a shapefile's: hours"),
)


def _add_grid_source_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--crs",
        help="the file's coordinates: wgs84, gcj02 (Amap, Tencent), bd09 (Baidu) or "
        "EPSG:NNNN (default: the file's crs member or .prj, else WGS-84)",
    )
    parser.add_argument(
        "--encoding", help="a shapefile's attributes, e.g. gbk (default: its .cpg, else tried)"
    )
    for flag, prop, default in FIELD_FLAGS:
        parser.add_argument(
            flag, dest=f"field_{prop}", help=f"field of the grid {prop} ({default})"
        )


def _grids_check_command(args: argparse.Namespace) -> int:
    """``grids check``, and ``grids import`` (which stores what it checked)."""
    from geofence.grids import check_grid_file
    from geofence.sources import GridSource
    from patrol.grids import save_grids
    from tracks.engines import open_store

    fields = {p: getattr(args, f"field_{p}") for _, p, _ in FIELD_FLAGS}
    source = GridSource(
        crs=args.crs,
        encoding=args.encoding,
        fields={p: name for p, name in fields.items() if name is not None},
    )
    grids, changes, crs = check_grid_file(args.file, repair=args.repair, source=source)
    for change in changes:
        print(f"repaired: {change}")
    if crs is None:
        print(
            f"{args.file}: no CRS named, read as WGS-84 (drawn on Amap or Tencent: --crs "
            "gcj02; on Baidu: --crs bd09; grids check FILE --db tells: docs/datums.md)"
        )
    elif crs.label != "WGS-84":
        print(f"{args.file}: read as {crs.label}, converted to WGS-84")
    if args.grids_command == "import":
        with open_store(args.db, args.data_path) as store:
            save_grids(store, grids)
        print(f"imported {len(grids)} grids from {args.file}")
        return 0
    print(f"{args.file}: {len(grids)} grids, no problems")
    if args.db is None:
        return 0
    from geofence.datumfit import fit_datums
    from geofence.grids import build_grid_set
    from tracks.queries import sample_recent_fixes

    with open_store(args.db, args.data_path, read_only=True) as store:
        fixes = sample_recent_fixes(store, args.days)
    if fixes.height == 0:
        print(f"datum check: no usable fixes in {args.db}")
        return 0
    fit = fit_datums(build_grid_set(grids), fixes["lon"].to_numpy(), fixes["lat"].to_numpy(), crs)
    for line in fit.lines:
        print(line)
    return 1 if fit.better is not None else 0


def _report_command(args: argparse.Namespace) -> int:
    from patrol.derive import ReportGrids
    from patrol.reports import format_rows, run_report, run_reports
    from tracks.engines import open_store

    start, end = _parse_time(args.start, "--start"), _parse_time(args.end, "--end")
    if end <= start:
        raise GridpatrolError("--end must be after --start")
    whole = args.kind in ("scorecard", "all")
    if args.format == "xlsx" and args.out is None:
        raise GridpatrolError("--format xlsx writes a file: give --out FILE.xlsx")
    if args.kind == "all" and args.format not in ("json", "xlsx"):
        raise GridpatrolError("report all: use --format json or xlsx")
    if whole and (args.grid is not None or args.device is not None):
        raise GridpatrolError(f"report {args.kind}: --grid and --device do not apply")
    settings = build_settings(GeofenceSettings, "geofence", vars(args))
    with open_store(args.db, args.data_path, read_only=True) as store:
        grids = ReportGrids(store)
        if grids.empty:
            raise GridpatrolError(f"{args.db}: no grids imported (gridpatrol grids import)")
        if args.grid is not None and args.grid not in grids.catalog.by_id:
            raise GridpatrolError(f"--grid: no grid {args.grid!r}")
        if args.kind == "attendance":
            return _attendance_report(args, grids, store, start, end, settings)
        one = args.grid is not None or args.device is not None
        if one or not (whole or args.format == "xlsx"):
            rows = run_report(
                args.kind,
                grids,
                store,
                start,
                end,
                settings,
                grid_id=args.grid,
                device_id=args.device,
                recompute=args.recompute,
            )
            by_device = args.kind == "coverage" and args.device is not None
            sheets = {"device_coverage" if by_device else args.kind: rows}
        else:
            sheets = run_reports(
                args.kind, grids, store, start, end, settings, recompute=args.recompute
            )
    if args.format == "xlsx":
        from patrol.workbook import write_workbook

        try:
            write_workbook(args.out, sheets, timezone=settings.timezone, language=args.lang)
        except OSError as exc:
            raise GridpatrolError(f"--out {args.out}: {exc}") from exc
        print(f"wrote {args.out}: {', '.join(f'{k} ({len(v)} rows)' for k, v in sheets.items())}")
    elif args.kind == "all":
        print(json.dumps(sheets, ensure_ascii=False, indent=1))
    elif args.kind == "scorecard":
        print(format_rows(sheets["scorecard"] + sheets["assessment"], args.format))
    else:
        print(format_rows(next(iter(sheets.values())), args.format))
    return 0


def _attendance_report(
    args: argparse.Namespace,
    grids: ReportGrids,
    store: Store,
    start: dt.datetime,
    end: dt.datetime,
    settings: GeofenceSettings,
) -> int:
    """``report attendance``: computed from the stored fixes of each day (no --recompute:
    it is always the recompute)."""
    from patrol.attendance import run_attendance
    from patrol.reports import format_rows

    rows = run_attendance(
        grids, store, start, end, settings, device_id=args.device, grid_id=args.grid
    )
    if args.format == "xlsx":
        from patrol.workbook import write_workbook

        try:
            write_workbook(
                args.out, {"attendance": rows}, timezone=settings.timezone, language=args.lang
            )
        except OSError as exc:
            raise GridpatrolError(f"--out {args.out}: {exc}") from exc
        print(f"wrote {args.out}: attendance ({len(rows)} rows)")
    elif args.format == "table":  # periods counted: the CSV and JSON list them
        print(format_rows([{k: _count(v) for k, v in r.items()} for r in rows], "table"))
    else:
        print(format_rows(rows, args.format))
    return 0


def _count(value: object) -> object:
    return f"{len(value)} period(s)" if isinstance(value, list) else value


def _derive_command(args: argparse.Namespace) -> int:
    from patrol.derive import ReportGrids, derive_range
    from tracks.engines import open_store

    settings = build_settings(GeofenceSettings, "geofence", vars(args))
    first = dt.date.fromisoformat(args.start) if args.start else None
    last = dt.date.fromisoformat(args.end) if args.end else None
    with open_store(args.db, args.data_path) as store:
        grids = ReportGrids(store)
        if grids.empty:
            raise GridpatrolError(f"{args.db}: no grids imported (gridpatrol grids import)")
        done = derive_range(
            grids,
            store,
            settings,
            first,
            last,
            only_stale=args.stale,
            progress=lambda d: print(f"{d.day}: {d.fixes} fixes, {d.seconds:.2f} s"),
        )
    print(
        f"derived {len(done)} day(s), {sum(d.fixes for d in done)} fixes, "
        f"{sum(d.seconds for d in done):.1f} s"
    )
    return 0


def _serve_command(args: argparse.Namespace) -> int:
    from gridpatrol.compose import ServeSettings
    from gridpatrol.serve import serve

    flags = vars(args)
    settings = ServeSettings(
        ingest=build_settings(IngestSettings, "ingest", flags),
        geofence=build_settings(GeofenceSettings, "geofence", flags),
        live=build_settings(LiveSettings, LIVE_SETTINGS_PREFIX, flags),
        api=build_settings(ApiSettings, "api", flags),
        stage=build_settings(StageSettings, "stage", flags),
        retention=build_settings(RetentionSettings, "retention", flags),
    )
    options = ServeOptions(
        db=args.db,
        data_path=args.data_path,
        devices=args.devices,
        grids=args.grids,
        http=args.http,
        tokens=args.tokens,
        role=Role(args.role),
        lake_commit_retries=args.lake_commit_retries,
    )
    return serve(options, settings)


def _add_purge_parser(commands: argparse._SubParsersAction) -> None:
    purge = commands.add_parser(
        "purge",
        help="delete raw fixes, rejected payloads and device events before a day "
        "(derived figures and alerts stay)",
    )
    _add_db_flags(purge)
    purge.add_argument(
        "--before",
        required=True,
        help="YYYY-MM-DD: everything before its local midnight (--timezone) goes",
    )
    _add_settings_flags(purge, GeofenceSettings)
    purge.set_defaults(func=_purge_command)


def _purge_command(args: argparse.Namespace) -> int:
    from patrol.retention import purge
    from tracks.engines import is_lake, open_store

    try:
        before = dt.date.fromisoformat(args.before)
    except ValueError as exc:
        raise GridpatrolError(f"--before: {args.before!r} is not YYYY-MM-DD") from exc
    settings = build_settings(GeofenceSettings, "geofence", vars(args))
    with open_store(args.db, args.data_path) as store:
        done = purge(store, before, settings)
    print(
        f"deleted {done.pings} pings, {done.rejected} rejected, {done.device_events} device "
        f"events, {done.device_commands} device commands before {done.before.isoformat()}"
    )
    if is_lake(args.db):
        print(
            "the lake's files still hold them until the stage's maintenance rewrites them "
            "and expires the snapshots before (after --keep-snapshots-s)"
        )
    return 0


def _add_backup_parsers(commands: argparse._SubParsersAction) -> None:
    backup = commands.add_parser(
        "backup", help="every table from one snapshot into a new folder (works while serve runs)"
    )
    backup.add_argument(
        "--db", help="the store to read (a lake, or a file no serve holds); or --from-serve"
    )
    backup.add_argument("--data-path", type=Path, help="a DuckLake's folder of Parquet files")
    backup.add_argument(
        "--from-serve",
        metavar="URL",
        help="ask the serve at http://HOST:PORT that holds the file (admin token in "
        "GRIDPATROL_TOKEN)",
    )
    backup.add_argument("--out", type=Path, required=True, help="a new (or empty) folder")
    backup.set_defaults(func=_backup_command)
    restore = commands.add_parser("restore", help="load a backup into a new file or lake")
    restore.add_argument("--from", dest="source", type=Path, required=True, help="backup folder")
    _add_db_flags(restore)
    restore.set_defaults(func=_restore_command)


def _backup_command(args: argparse.Namespace) -> int:
    from gridpatrol.backup import backup_from_serve, backup_from_store

    if (args.db is None) == (args.from_serve is None):
        raise GridpatrolError("backup: give --db or --from-serve, one of them")
    if args.from_serve is not None:
        counts = backup_from_serve(args.from_serve, args.out)
    else:
        counts = backup_from_store(args.db, args.data_path, args.out)
    print(f"backed up {counts.get('pings', 0)} pings, {len(counts)} tables, into {args.out}")
    return 0


def _restore_command(args: argparse.Namespace) -> int:
    from gridpatrol.backup import restore

    counts = restore(args.source, args.db, args.data_path)
    print(f"restored {counts.get('pings', 0)} pings, {len(counts)} tables, from {args.source}")
    return 0


def _lake_migrate_command(args: argparse.Namespace) -> int:
    from tracks.engines import migrate_store
    from tracks.lake import LAKE_FORMAT

    found = migrate_store(args.db, args.data_path)
    if found is None:
        print(f"the lake is DuckLake format {LAKE_FORMAT} already: nothing to do")
    else:
        print(f"migrated the lake from DuckLake format {found} to {LAKE_FORMAT}")
    return 0


def _stats_command(args: argparse.Namespace) -> int:
    from tracks.engines import open_store
    from tracks.queries import read_stats

    with open_store(args.db, args.data_path, read_only=True) as store:
        stats = read_stats(store)
    if args.format == "json":
        keys = ("received", "stored", "duplicates", "rejected")
        print(json.dumps({k: stats[k] for k in keys}))
    else:
        _print_stats(stats)
    return 0


def _access_command(args: argparse.Namespace) -> int:
    from tracks.access import read_access
    from tracks.engines import open_store

    try:
        since = dt.datetime.fromisoformat(args.since)
    except ValueError:
        raise GridpatrolError(f"--since: {args.since!r} is not an ISO 8601 time") from None
    if since.tzinfo is None:
        raise GridpatrolError(f"--since: {args.since!r} needs a UTC offset such as +08:00")
    with open_store(args.db, args.data_path, read_only=True) as store:
        rows = read_access(store, since)
    for row in rows.iter_rows(named=True):
        row["ts"] = row["ts"].astimezone(since.tzinfo).isoformat()
        if args.format == "json":
            print(json.dumps({**row, "params": json.loads(row["params"])}, ensure_ascii=False))
        else:
            who = f"{row['token'] or '-'} ({row['role'] or 'no token'})"
            print(f"{row['ts']}  {row['status']}  {who}  {row['client'] or '-'}  ", end="")
            print(f"{row['method']} {row['route']} {row['params']}")
    return 0


def _demo_command(args: argparse.Namespace) -> int:
    from gridpatrol.demo import DemoOptions, run_demo

    return run_demo(
        DemoOptions(
            workdir=args.workdir,
            duration_s=args.duration,
            speedup=args.speedup,
            seed=args.seed,
            hours=args.hours,
            trackers=args.trackers,
        )
    )


def _jt808_command(args: argparse.Namespace) -> int:
    import asyncio

    from ingest.jt808.gateway import run_gateway

    asyncio.run(run_gateway(build_settings(Jt808Settings, "jt808", vars(args))))
    return 0


def _devices_import_command(args: argparse.Namespace) -> int:
    from tracks.engines import open_store
    from tracks.queries import import_devices

    with open_store(args.db, args.data_path) as store:
        count = import_devices(store, args.file)
    print(f"imported {count} devices")
    return 0


def _roster_import_command(args: argparse.Namespace) -> int:
    from patrol.rosters import import_roster
    from tracks.engines import open_store

    with open_store(args.db, args.data_path) as store:
        count = import_roster(store, args.file)
    print(f"imported {count} roster rows from {args.file}")
    return 0


def _calendar_import_command(args: argparse.Namespace) -> int:
    from patrol.rosters import import_calendar
    from tracks.engines import open_store

    with open_store(args.db, args.data_path) as store:
        count, years = import_calendar(store, args.file)
    print(f"imported {count} calendar days of {', '.join(str(y) for y in years)}")
    return 0


def _print_stats(stats: dict[str, object]) -> None:
    for key in ("received", "stored", "duplicates"):
        print(f"{key:<28}{stats[key]:>12}")
    for group in ("rejected", "other"):
        values = stats[group]
        assert isinstance(values, dict)
        print(f"{group:<28}{sum(values.values()):>12}")
        for reason, count in values.items():
            print(f"  {reason:<26}{count:>12}")


#: Bits taken from every file the command line creates: the DuckDB file and its write-ahead
#: log (the location history of every worker), a lake's Parquet files, exports. Files come out
#: 0640 at most and folders 0750, whatever the umask (a stricter one is kept). Files meant for
#: others (Mosquitto's config) are given their mode where they are written.
UMASK = 0o027


def main(argv: Sequence[str] | None = None) -> int:
    os.umask(os.umask(UMASK) | UMASK)
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.func(args))
    except GridpatrolError as exc:
        print(f"gridpatrol: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
