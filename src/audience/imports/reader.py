"""Rows of an uploaded file, read back chunk by chunk (constant memory whatever its size).

Rows are numbered from 1 in file order (a CSV's header line is not a row); NDJSON blank lines
are skipped but keep their number, so an error names the line an editor shows minus nothing.
"""

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

import orjson

from audience.db import Database
from audience.imports import queries


class UnreadableFile(Exception):
    """The file cannot be read on (not UTF-8, broken CSV quoting): the import fails whole."""


class _ChunkStream(io.RawIOBase):
    """The stored chunks as one readable byte stream, one read transaction per chunk."""

    def __init__(self, db: Database, import_id: str) -> None:
        self.db = db
        self.import_id = import_id
        self.seq = 0
        self.buffer = b""

    def readable(self) -> bool:
        return True

    def readinto(self, target: Any) -> int:
        while not self.buffer:
            with self.db.read() as conn:
                data = queries.chunk(conn, self.import_id, self.seq)
            if data is None:
                return 0
            self.seq += 1
            self.buffer = data
        size = min(len(target), len(self.buffer))
        target[:size] = self.buffer[:size]
        self.buffer = self.buffer[size:]
        return size


def _text(db: Database, import_id: str) -> io.TextIOWrapper:
    raw = io.BufferedReader(_ChunkStream(db, import_id), buffer_size=1 << 20)
    return io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")


# orjson reads an integer past 64 bits as a float; ``json`` as an int (which the API's checks
# refuse as out of range). Any float this large sends the line to ``json``.
_BIG = 2.0**63
_TRICKY = (float, dict, list)


def _may_differ(value: Any) -> bool:
    kind = type(value)
    if kind is float:
        return not -_BIG < value < _BIG
    if kind is dict:
        value = value.values()
    elif kind is not list:
        return False
    for item in value:  # noqa: SIM110 -- a loop, not a generator: once per NDJSON line
        if type(item) in _TRICKY and _may_differ(item):
            return True
    return False


def loads(line: str) -> Any:
    """``json.loads``, by orjson (a tenth of the time) where it reads the same: ``json`` reads
    what orjson refuses (NaN, 1e400, lone surrogates) and lines with a float past 64 bits
    (orjson's reading of a big integer), so a line means what it always meant."""
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError:
        return json.loads(line)
    return json.loads(line) if _may_differ(value) else value


# A row: its number, and its fields (CSV: strings; NDJSON: JSON values), or the reason it
# could not be parsed at all.
ParsedRow = tuple[int, dict[str, Any] | None, str | None]
# A row as read, before JSON parsing: an NDJSON line stays text (the events import parses it
# where it checks it, possibly in its helper process); a CSV row is already split.
RawRow = tuple[int, str | dict[str, Any] | None, str | None]


def parse(row: RawRow) -> ParsedRow:
    number, fields, reason = row
    if not isinstance(fields, str):
        return number, fields, reason
    try:
        value = loads(fields)
    except ValueError:
        return number, None, "the line is not valid JSON"
    if not isinstance(value, dict):
        return number, None, "the line is not a JSON object"
    return number, value, None


def raw_rows(db: Database, import_id: str, file_format: str) -> Iterator[RawRow]:
    text = _text(db, import_id)
    try:
        if file_format == "csv":
            reader = csv.DictReader(text, restkey="_extra")
            for number, record in enumerate(reader, start=1):
                if "_extra" in record or None in record.values():
                    yield number, None, "the row does not have as many cells as the header"
                else:
                    yield number, dict(record), None
            return
        for number, line in enumerate(text, start=1):
            if line.strip():
                yield number, line, None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise UnreadableFile(str(exc)) from None
