"""ESRI shapefiles as grid files: the features of a ``.shp`` (or a ``.zip`` of one) with its
``.dbf`` attributes, ``.prj`` and ``.cpg``, read with pyshp.

Government GIS data arrives this way, its attribute table often GBK. The encoding is the
``--encoding`` flag's (an operator who names one knows better than a wrong ``.cpg``), else
the ``.cpg``'s, else UTF-8 and then GB18030 (the superset of GBK) are tried, in that order;
a table none of them reads is one line naming what was tried. Every problem is a
``ValueError`` of one line.
"""

from __future__ import annotations

import codecs
import io
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

#: Tried in order when neither --encoding nor a .cpg names the attributes' encoding.
TRIED_ENCODINGS = ("utf-8", "gb18030")
#: Windows code pages a .cpg may hold as a number.
CODE_PAGES = {"936": "gbk", "54936": "gb18030", "65001": "utf-8", "950": "big5"}
#: pyshp's polygon types (2D, with M, with Z): grids are areas.
POLYGON_TYPES = frozenset({5, 15, 25})
#: A shapefile's files together (a .zip's unpacked): the GeoJSON limit. 2,000,000 vertices
#: (the vertex limit, applied as the features are read) take 32 MB in a .shp.
MAX_BYTES = 128 * 1024 * 1024


class WrongEncoding(Exception):
    """A dbf field name that the encoding tried does not decode (pyshp says so in its own
    exception, not as a UnicodeDecodeError)."""


@dataclass(frozen=True)
class ShapefileParts:
    """The files of one shapefile, read into memory (``shx``, ``prj``, ``cpg`` optional)."""

    shp: bytes
    dbf: bytes
    shx: bytes | None
    prj: str | None
    cpg: str | None


def _text(data: bytes | None) -> str | None:
    return data.decode("latin-1") if data is not None else None


def read_parts(path: Path) -> ShapefileParts:
    """The shapefile's files, from beside a ``.shp`` or inside a ``.zip``."""
    if path.suffix.lower() == ".zip":
        return _zip_parts(path)
    try:
        files = {p.suffix.lower(): p for p in path.parent.iterdir() if p.stem == path.stem}
        if sum(p.stat().st_size for p in files.values()) > MAX_BYTES:
            raise ValueError(f"its files hold more than {MAX_BYTES} bytes")

        def read(suffix: str) -> bytes | None:
            found = files.get(suffix)
            return found.read_bytes() if found is not None else None

        shp = path.read_bytes()
        dbf = read(".dbf")
        if dbf is None:
            raise ValueError(f"no {path.stem}.dbf beside it: the attributes (id, name) are there")
        return ShapefileParts(shp, dbf, read(".shx"), _text(read(".prj")), _text(read(".cpg")))
    except OSError as exc:
        raise ValueError(f"cannot read: {exc.strerror}") from exc


def _zip_parts(path: Path) -> ShapefileParts:
    try:
        with zipfile.ZipFile(path) as archive:
            members = {m.filename: m for m in archive.infolist() if not m.is_dir()}
            if sum(m.file_size for m in members.values()) > MAX_BYTES:
                raise ValueError(f"more than {MAX_BYTES} bytes unpacked")
            shps = [n for n in members if n.lower().endswith(".shp")]
            if len(shps) != 1:
                raise ValueError(f"the zip holds {len(shps)} .shp files: one is needed")
            stem = shps[0][:-4].lower()

            def read(suffix: str) -> bytes | None:
                for name in members:
                    if name.lower() == stem + suffix:
                        return archive.read(name)
                return None

            dbf = read(".dbf")
            if dbf is None:
                raise ValueError(f"no {Path(stem).name}.dbf in the zip beside {shps[0]}")
            return ShapefileParts(
                archive.read(shps[0]),
                dbf,
                read(".shx"),
                _text(read(".prj")),
                _text(read(".cpg")),
            )
    except (zipfile.BadZipFile, OSError) as exc:
        raise ValueError(f"not a readable zip: {exc}") from exc


def encoding_of(name: str, source: str) -> str:
    """A Python codec for an encoding as a flag or a .cpg writes it (GBK, 936, UTF-8)."""
    key = name.strip()
    key = CODE_PAGES.get(key, key)
    try:
        return codecs.lookup(key).name
    except LookupError:
        raise ValueError(f"unknown encoding {name.strip()!r} ({source})") from None


def _features(parts: ShapefileParts, encoding: str) -> list[dict[str, Any]]:
    """The records, decoded strictly with ``encoding`` (a UnicodeDecodeError, or
    :class:`WrongEncoding` for a field name, passes up)."""
    import shapefile  # pyshp: loaded where a shapefile is read

    shx: BinaryIO | None = io.BytesIO(parts.shx) if parts.shx is not None else None
    try:
        with shapefile.Reader(
            shp=io.BytesIO(parts.shp), dbf=io.BytesIO(parts.dbf), shx=shx, encoding=encoding
        ) as reader:
            if reader.shapeType not in POLYGON_TYPES:
                raise ValueError(f"holds {reader.shapeTypeName} shapes: grids are polygons")
            return [
                {
                    "type": "Feature",
                    "properties": record.record.as_dict(),
                    "geometry": None
                    if record.shape.shapeType == shapefile.NULL
                    else record.shape.__geo_interface__,
                }
                for record in reader.iterShapeRecords()
            ]
    except shapefile.ShapefileException as exc:
        if "decode" in str(exc):  # a field name in another encoding: pyshp's own error
            raise WrongEncoding(str(exc)) from exc
        raise ValueError(f"not a readable shapefile: {exc}") from exc
    except (struct.error, IndexError, EOFError) as exc:
        raise ValueError(f"not a readable shapefile: {exc}") from exc


def read_shapefile(parts: ShapefileParts, encoding: str | None) -> list[dict[str, Any]]:
    """The shapefile's records as GeoJSON-like features (attributes as dbf fields name them)."""
    if encoding is not None:
        tried = [(encoding_of(encoding, "--encoding"), "--encoding")]
    elif parts.cpg is not None and parts.cpg.strip():
        tried = [(encoding_of(parts.cpg, "the .cpg file"), "the .cpg file")]
    else:
        tried = [(e, "") for e in TRIED_ENCODINGS]
    for codec, _ in tried:
        try:
            return _features(parts, codec)
        except (UnicodeDecodeError, WrongEncoding):
            continue
    codec, source = tried[-1]
    if not source:
        names = " nor ".join(e.upper() for e in TRIED_ENCODINGS)
        raise ValueError(
            f"attributes are neither {names} (GBK) and no .cpg names theirs: "
            "name it with --encoding"
        )
    raise ValueError(
        f"attributes are not {codec.upper()} (as {source} says): name the right one with "
        "--encoding (GBK is common)"
    )
