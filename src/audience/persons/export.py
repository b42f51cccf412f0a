"""R10 export, streamed: everything stored about a person as one JSON document, written
page by page from one read transaction, so memory stays flat however long the history is
(one person's export was a single 77 MB answer before)."""

import json
from collections.abc import Iterator
from typing import Any

from audience.clock import isoformat, utcnow
from audience.db import Database
from audience.installations import queries as installation_queries
from audience.installations.service import installation_to_api
from audience.persons import queries
from audience.persons.audit import change_to_api
from audience.persons.service import get_person, person_to_api

PAGE_SIZE = 500
# What the document holds, for the OpenAPI description of the streamed answer.
SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["person", "mergedIds", "installations", "events", "changes", "exportedAt"],
    "properties": {
        "person": {"type": "object"},
        "mergedIds": {"type": "array", "items": {"type": "string"}},
        "installations": {"type": "array", "items": {"type": "object"}},
        "events": {"type": "array", "items": {"type": "object"}},
        "changes": {"type": "array", "items": {"type": "object"}},
        "exportedAt": {"type": "string", "format": "date-time"},
    },
}


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def _items(rendered: list[Any], first: bool) -> bytes:
    body = b",".join(_json(item) for item in rendered)
    return body if first or not body else b"," + body


def export_chunks(db: Database, person_id: str) -> Iterator[bytes]:
    """The export document in pieces; the caller has already answered 404 for an unknown id."""
    from audience.events.service import event_to_api  # the events feature owns the format

    with db.read() as conn:
        row = get_person(conn, person_id)
        ids = queries.profile_ids(conn, row.id)
        devices = installation_queries.all_for_person(conn, row.id)
        yield b'{"person":' + _json(person_to_api(conn, row))
        yield b',"mergedIds":' + _json(ids[1:])
        yield b',"installations":' + _json([installation_to_api(d) for d in devices])
        yield b',"events":['
        after: int | None = None
        while True:
            events = queries.events_page(conn, ids, after, PAGE_SIZE)
            yield _items([event_to_api(event, row.id) for event in events], after is None)
            if len(events) < PAGE_SIZE:
                break
            after = events[-1].id
        yield b'],"changes":['
        before: int | None = None
        while True:
            changes = queries.list_changes(conn, ids, before, PAGE_SIZE)[:PAGE_SIZE]
            yield _items([change_to_api(change) for change in changes], before is None)
            if len(changes) < PAGE_SIZE:
                break
            before = changes[-1].id
        yield b'],"exportedAt":' + _json(isoformat(utcnow())) + b"}"
