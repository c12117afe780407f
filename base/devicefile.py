"""A devices CSV as command centres write it: text ids, UTF-8 or GBK, ids checked.

An optional last column ``datum`` (wgs84, gcj02 or bd09; empty: wgs84) says what a
device's pings are in (docs/mqtt.md, "Datums"). Read everywhere a devices CSV is read (``devices import``, ``serve --devices``,
``broker-config``, ``simulate``): every column is text, so a JT/T 808 phone number keeps its
leading zero and never arrives as an integer; a file that is not UTF-8 is read as GB18030
(the superset of GBK, what a Chinese Excel saves as "CSV"); every bad id is named with its
line.
"""

from __future__ import annotations

import io
from pathlib import Path

import polars as pl

from base.datum import Datum, parse_datum
from base.errors import ConfigError
from base.topics import DEVICE_ID

#: Tried in order: UTF-8 (with or without Excel's byte-order mark), then GB18030.
ENCODINGS = ("utf-8-sig", "gb18030")
#: At most this many bad ids are listed, one line each.
BAD_IDS_SHOWN = 20


def read_text(path: Path, what: str) -> str:
    """A CSV a command centre saved, as text: UTF-8, else GB18030; a ConfigError in one line
    naming ``what`` the file is when it cannot be read or is neither."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read {what}: {exc.strerror or exc}") from exc
    for encoding in ENCODINGS:
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ConfigError(
        f"{path}: neither UTF-8 nor GB18030 (GBK): save it as CSV UTF-8 or as CSV from a "
        "Chinese Excel"
    )


def read_devices_csv(path: Path) -> pl.DataFrame:
    """The CSV's rows, every column a string; a ConfigError in one line when unreadable."""
    text = read_text(path, "devices CSV")
    try:
        return pl.read_csv(io.StringIO(text), infer_schema=False)
    except pl.exceptions.PolarsError as exc:
        raise ConfigError(f"{path}: cannot read devices CSV: {exc}") from exc


def check_device_ids(path: Path, ids: list[str | None]) -> None:
    """Refuse ids that cannot be MQTT user names and topic levels: one line per bad row
    (line numbers of the file, its header line 1)."""
    bad = [(n + 2, i) for n, i in enumerate(ids) if i is None or not DEVICE_ID.fullmatch(i)]
    if not bad:
        return
    lines = [f"  line {line}: {i!r}" for line, i in bad[:BAD_IDS_SHOWN]]
    if len(bad) > BAD_IDS_SHOWN:
        lines.append(f"  and {len(bad) - BAD_IDS_SHOWN} more")
    raise ConfigError(
        f"{path}: {len(bad)} device ids not usable (1 to 64 of A-Z a-z 0-9 . _ -):\n"
        + "\n".join(lines)
    )


def check_datums(path: Path, values: list[str | None]) -> list[Datum]:
    """The ``datum`` column as datums (empty: WGS-84); every unknown value named with its
    line, as ids are."""
    datums: list[Datum] = []
    bad: list[tuple[int, str]] = []
    for n, value in enumerate(values):
        try:
            datums.append(parse_datum(value) if value and value.strip() else Datum.WGS84)
        except ValueError:
            bad.append((n + 2, value or ""))
    if not bad:
        return datums
    lines = [f"  line {line}: {v!r}" for line, v in bad[:BAD_IDS_SHOWN]]
    if len(bad) > BAD_IDS_SHOWN:
        lines.append(f"  and {len(bad) - BAD_IDS_SHOWN} more")
    names = ", ".join(d.value for d in Datum)
    raise ConfigError(f"{path}: {len(bad)} datums not known (one of {names}):\n" + "\n".join(lines))
