"""Custom event definitions (R8): a custom event's name and its typed properties."""

from typing import Any

from sqlalchemy import Connection, Row
from sqlalchemy.exc import IntegrityError

from audience.clock import isoformat, utcnow
from audience.errors import ApiError, DefinitionExists, DefinitionInUse, NotFound, validation_error
from audience.events import queries
from audience.events.standard import STANDARD_EVENTS
from audience.events.validation import Definition
from audience.segments.membership import segments_using

ID_PATTERN = r"^[A-Za-z0-9]{1,36}$"
PROPERTY_NAME_PATTERN = r"^[a-z_][A-Za-z0-9_]{0,127}$"
PROPERTY_TYPES = ("string", "number", "boolean", "date", "datetime")
MAX_PROPERTIES = 120
# Reserved case-insensitively, so "appLaunch" cannot be mistaken for the standard event.
_RESERVED = frozenset(name.lower() for name in STANDARD_EVENTS)


def definition_to_api(row: Row) -> dict[str, Any]:
    return {
        "id": row.id,
        "description": row.description,
        "properties": row.properties or {},
        "active": row.active,
        "createdAt": isoformat(row.created_at),
        "updatedAt": isoformat(row.updated_at),
    }


def not_found(definition_id: str) -> ApiError:
    return NotFound(f"No event definition '{definition_id}'")


def get_definition(conn: Connection, definition_id: str) -> Row:
    row = queries.find_definition(conn, definition_id)
    if row is None:
        raise not_found(definition_id)
    return row


def create_definition(
    conn: Connection,
    definition_id: str,
    description: str | None,
    properties: dict[str, str],
    active: bool,
) -> Row:
    if definition_id.lower() in _RESERVED:
        raise validation_error(f"'{definition_id}' is reserved for a standard event", "id")
    now = utcnow()
    try:
        with conn.begin_nested():
            queries.insert_definition(
                conn,
                id=definition_id,
                description=description,
                properties=properties,
                active=active,
                created_at=now,
                updated_at=now,
            )
    except IntegrityError:
        raise DefinitionExists(f"Event '{definition_id}' is already defined", "id") from None
    return get_definition(conn, definition_id)


def update_definition(conn: Connection, definition_id: str, changes: dict[str, Any]) -> Row:
    """Change description, properties (the whole map) or the active flag; events stay as stored.

    A property a saved segment filters on keeps its type (and stays defined): the segment's
    rule was checked against that type, and every write re-evaluates it.
    """
    current = get_definition(conn, definition_id)
    if "properties" in changes:
        _check_properties_in_use(
            conn, definition_id, current.properties or {}, changes["properties"]
        )
    if changes:
        queries.update_definition(conn, definition_id, **changes, updated_at=utcnow())
    return get_definition(conn, definition_id)


def _check_properties_in_use(
    conn: Connection, definition_id: str, before: dict[str, str], after: dict[str, str]
) -> None:
    changed = {name for name, type_ in before.items() if after.get(name) != type_}
    users = segments_using(conn, definition_id, changed) if changed else {}
    if users:
        name = min(set().union(*users.values()))
        raise DefinitionInUse(
            f"Property '{name}' of '{definition_id}' is used by segment(s) "
            f"{', '.join(sorted(users))}: it can neither change type nor go while they use it",
            f"properties.{name}",
        )


def definitions_by_id(rows: list[queries.DefinitionRow]) -> dict[str, Definition]:
    return {id_: Definition(id=id_, active=active, properties=types) for id_, active, types in rows}


def load_for_ingestion(conn: Connection, definition_ids: set[str]) -> dict[str, Definition]:
    return definitions_by_id(queries.find_definitions(conn, definition_ids))
