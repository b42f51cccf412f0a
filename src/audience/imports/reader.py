"""Rows of an uploaded file, read back chunk by chunk (constant memory whatever its size).

Rows are numbered from 1 in file order (a CSV's header line is not a row); NDJSON blank lines
are skipped but keep their number, so an error names the line an editor shows minus nothing.
A row is parsed and checked later (``imports.rows.parse``), possibly in the helper process.
"""

import csv
import io
from collections.abc import Iterator
from typing import Any

from audience.db import Database
from audience.imports import queries
from audience.imports.rows import RawRow


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
