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
from audience.exports import queries

PAGE = 1000
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
_COLUMNS_OF = {
    "firstName": "first_name",
    "lastName": "last_name",
    "middleName": "middle_name",
    "gender": "gender",
    "birthday": "birthday",
}


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


def persons_export(db: Database, file_format: str, segment_id: str | None) -> Iterator[str]:
    with db.read() as conn:
        custom_names = queries.person_attribute_names(conn)
    header = ["id", "externalUserId", "emails", "phones", "tags", *PERSON_FIELDS]
    header += [f"custom.{name}" for name in custom_names] + ["createdAt", "updatedAt"]
    if file_format == "csv":
        yield _csv_line(header)
    after = ""
    while True:
        with db.read() as conn:
            page, identities, tags = queries.person_lines(conn, after, segment_id, PAGE)
        if not page:
            return
        after = page[-1][0]
        if file_format == "csv":
            yield _csv_page(page, identities, tags, custom_names)
        else:
            yield "".join(_ndjson_person(row, identities, tags) for row in page)


def _loaded(value: Any) -> Any:
    """A JSON column as the driver gives it: text on SQLite, already decoded on PostgreSQL."""
    return json.loads(value) if isinstance(value, str) else value


def _time(value: Any) -> str | None:
    """``isoformat`` of a time column; SQLite's text form is cut rather than parsed."""
    if isinstance(value, str):
        if len(value) == 26 and value[10] == " ":
            return f"{value[:10]}T{value[11:23]}Z"
        return isoformat(datetime.fromisoformat(value))
    return isoformat(value)


_NONE: dict[str, list[str]] = {"phone": [], "email": []}


def _csv_page(
    page: list[tuple[Any, ...]],
    identities: dict[str, dict[str, list[str]]],
    tags: dict[str, list[str]],
    custom_names: list[str],
) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    rows = []
    for pid, ext, first, last, middle, gender, birthday, custom, created, updated in page:
        custom = _loaded(custom) or {}
        owned = identities.get(pid, _NONE)
        cells = [pid, ext, ";".join(owned["email"]), ";".join(owned["phone"])]
        cells.append(";".join(tags.get(pid, ())))
        cells += [first, last, middle, gender, birthday]
        cells += [custom.get(name) for name in custom_names]
        rows.append([_cell(cell) for cell in cells] + [_time(created), _time(updated)])
    writer.writerows(rows)
    return out.getvalue()


def _ndjson_person(
    row: tuple[Any, ...], identities: dict[str, dict[str, list[str]]], tags: dict[str, list[str]]
) -> str:
    pid, ext, first, last, middle, gender, birthday, custom, created, updated = row
    owned = identities.get(pid, _NONE)
    doc = {
        "id": pid,
        "externalUserId": ext,
        "emails": owned["email"],
        "phones": owned["phone"],
        "tags": tags.get(pid, []),
        "firstName": first,
        "lastName": last,
        "middleName": middle,
        "gender": gender,
        "birthday": birthday,
        "customAttributes": _loaded(custom) or {},
        "createdAt": _time(created),
        "updatedAt": _time(updated),
    }
    return json.dumps(doc, separators=(",", ":")) + "\n"


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
