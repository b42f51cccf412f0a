"""Attribute definition rules: create once (the name is unique across scopes), then only the
description changes. Shared by the API and the console."""

from typing import Any

from sqlalchemy import Connection, Row
from sqlalchemy.exc import IntegrityError

from audience.attributes import queries
from audience.attributes.values import merge_custom_attributes
from audience.clock import isoformat, utcnow
from audience.errors import ApiError, DefinitionExists, NotFound


def definition_to_api(row: Row) -> dict[str, Any]:
    return {
        "name": row.name,
        "type": row.type,
        "scope": row.scope,
        "description": row.description,
        "createdAt": isoformat(row.created_at),
        "updatedAt": isoformat(row.updated_at),
    }


def not_found(name: str) -> ApiError:
    return NotFound(f"No attribute definition named '{name}'")


def get_definition(conn: Connection, name: str) -> Row:
    row = queries.find(conn, name)
    if row is None:
        raise not_found(name)
    return row


def create_definition(conn: Connection, fields: dict[str, Any]) -> Row:
    """``fields``: name, type, scope, description (already validated by the caller's model)."""
    now = utcnow()
    try:
        with conn.begin_nested():
            queries.insert_definition(conn, **fields, created_at=now, updated_at=now)
    except IntegrityError:
        raise DefinitionExists(f"Attribute '{fields['name']}' is already defined", "name") from None
    return get_definition(conn, fields["name"])


def update_description(conn: Connection, name: str, description: str | None) -> Row:
    get_definition(conn, name)
    queries.update_definition(conn, name, description=description, updated_at=utcnow())
    return get_definition(conn, name)


def apply_custom_attributes(
    conn: Connection, scope: str, current: dict[str, Any], changes: dict[str, Any]
) -> dict[str, Any]:
    """``current`` merged with ``changes``: defined names only, typed, ``null`` deletes."""
    definitions = queries.find_many(conn, changes.keys(), scope)
    types = {name: row.type for name, row in definitions.items()}
    return merge_custom_attributes(types, scope, current, changes)
