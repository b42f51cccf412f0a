"""Exports (docs/decisions.md): persons and events as CSV or NDJSON, generated a page at a time.

Each page is read in its own short transaction by keyset (``id > last``), so memory stays flat
and no transaction stays open for the whole download. The columns are the ones imports read,
so an export imports back unchanged (docs/decisions.md, tested).
"""

import csv
import io
import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from audience.clock import isoformat
from audience.db import Database
from audience.exports import csv_queries, json_lines, ndjson_queries, pages, queries

PAGE = 1000
# NDJSON persons a page (a page's text is built by the database and held until it is sent).
PERSON_PAGE = 10_000
# CSV persons a page (a page's text is built by the database and held until it is sent).
PERSON_CSV_PAGE = 10_000
# Properties the server writes on standard events (R6, and SegmentEntered/Left's segmentId).
STANDARD_PROPERTY_NAMES = (
    "appCode",
    "pushRegId",
    "applicationVersion",
    "deviceManufacturer",
    "deviceModel",
    "osLanguage",
    "osVersion",
    "platform",
    "sdkVersion",
    "segmentId",
)
PERSON_FIELDS = ("firstName", "lastName", "middleName", "gender", "birthday")


def _csv_line(values: list[Any]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(values)
    return out.getvalue()


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return json.dumps(value, separators=(",", ":"))
    return value


def persons_export(
    db: Database, file_format: str, segment_id: str | None, threads: int = 1
) -> Iterator[bytes]:
    """The file a page at a time, each page read in its own short transaction (up to
    ``threads`` at once, ``pages``) and yielded as bytes after it. Pages come finished from
    the database (CSV by PostgreSQL's ``COPY`` or SQLite's string functions, JSON lines by
    their JSON functions): no Python per person, but for NDJSON's odd values
    (``json_lines``)."""
    with db.read() as conn:
        custom_names = queries.person_attribute_names(conn)
    make: pages.MakePage
    if file_format == "csv":
        header = ["id", "externalUserId", "emails", "phones", "tags", *PERSON_FIELDS]
        header += [f"custom.{name}" for name in custom_names] + ["createdAt", "updatedAt"]
        yield _csv_line(header).encode()

        def make(after: str, upto: str | None) -> bytes:
            with db.read() as conn:
                pieces = csv_queries.person_csv_page(conn, after, upto, segment_id, custom_names)
            return b"".join(pieces)

        size = PERSON_CSV_PAGE
    else:

        def make(after: str, upto: str | None) -> bytes:
            with db.read() as conn:
                text, decimals = ndjson_queries.person_ndjson_page(conn, after, upto, segment_id)
            return json_lines.as_json_dumps(text, decimals).encode()

        size = PERSON_PAGE
    for page in pages.made(pages.ranges(db, segment_id, size), make, threads):
        if page:
            yield page


def events_export(
    db: Database,
    file_format: str,
    since: datetime | None,
    until: datetime | None,
    definition_id: str | None,
) -> Iterator[str]:
    with db.read() as conn:
        property_names = sorted(set(queries.property_names(conn)) | set(STANDARD_PROPERTY_NAMES))
    header = ["id", "personId", "externalUserId", "pushRegistrationId", "definitionId"]
    header += ["eventId", "occurredAt", "receivedAt"]
    if file_format == "csv":
        yield _csv_line(header + [f"properties.{name}" for name in property_names])
    after: int | None = None
    while True:
        with db.read() as conn:
            page = queries.event_page(conn, after, since, until, definition_id, PAGE)
            externals = queries.external_ids_of(conn, sorted({row.person_id for row in page}))
        if not page:
            return
        after = int(page[-1].id)
        lines = []
        for row in page:
            doc: dict[str, Any] = {
                "id": str(row.id),
                "personId": row.person_id,
                "externalUserId": externals.get(row.person_id),
                "pushRegistrationId": row.push_registration_id,
                "definitionId": row.definition_id,
                "eventId": row.event_id,
                "occurredAt": isoformat(row.occurred_at),
                "receivedAt": isoformat(row.received_at),
            }
            properties = row.properties or {}
            if file_format == "csv":
                cells = [doc[name] for name in header]
                cells += [properties.get(name) for name in property_names]
                lines.append(_csv_line([_cell(cell) for cell in cells]))
            else:
                doc["properties"] = properties
                lines.append(json.dumps(doc, separators=(",", ":")) + "\n")
        yield "".join(lines)
