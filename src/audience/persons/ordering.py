"""Ordered person updates (docs/identity.md ``asOf``): a change made offline at ``asOf`` and sent
later must not overwrite a field that changed on the server after that moment.

When a field last changed is read from the audit trail (R9), which records every change of
every field with its time, so no per-field timestamps are kept twice.
"""

from collections.abc import Callable
from datetime import datetime
from typing import Any

from pydantic.alias_generators import to_camel
from sqlalchemy import Connection, Row, distinct, select

from audience.attributes.values import InvalidValue, parse_datetime
from audience.clock import to_naive_utc
from audience.errors import validation_error
from audience.persons import service
from audience.persons.audit import Audit
from audience.tables import person_changes


def parse_as_of(value: str) -> datetime:
    try:
        return to_naive_utc(parse_datetime(value))
    except InvalidValue as exc:
        raise validation_error(f"asOf: {exc}", "asOf") from None


def fields_changed_since(conn: Connection, person_id: str, since: datetime) -> set[str]:
    query = select(distinct(person_changes.c.field)).where(
        person_changes.c.person_id == person_id, person_changes.c.changed_at > since
    )
    return set(conn.execute(query).scalars())


def drop_stale(fields: dict[str, Any], changed: set[str]) -> tuple[dict[str, Any], list[str]]:
    """``fields`` (snake_case, as sent) without those changed later; answers the kept fields
    and the API names of the ignored ones. Tags sent as ``{"add", "remove"}`` always apply
    (adding or removing one tag does not overwrite the others); a full list is one field."""
    kept: dict[str, Any] = {}
    ignored: list[str] = []
    for name, value in fields.items():
        if name == "custom_attributes" and value:
            keys = {key: f"customAttributes.{key}" for key in value}
            stale = sorted(label for label in keys.values() if label in changed)
            ignored += stale
            fresh = {key: v for key, v in value.items() if keys[key] not in stale}
            if fresh:
                kept[name] = fresh
        elif name == "tags" and isinstance(value, dict):
            kept[name] = value
        elif to_camel(name) in changed:
            ignored.append(to_camel(name))
        else:
            kept[name] = value
    return kept, ignored


def update_person_in_order(
    conn: Connection,
    row: Row,
    fields: dict[str, Any],
    audit: Audit,
    render: Callable[[Row], dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """PATCH a person, honouring ``as_of`` when sent; answers the person as ``render`` shows
    it (default: the server API's view), with ``ignoredFields`` when ``asOf`` was sent."""
    as_of = fields.pop("as_of", None)
    ignored: list[str] | None = None
    if as_of is not None:
        changed = fields_changed_since(conn, row.id, parse_as_of(as_of))
        fields, ignored = drop_stale(fields, changed)
    updated = service.update_person(conn, row, fields, audit)
    body = render(updated) if render else service.person_to_api(conn, updated)
    if ignored is not None:
        body["ignoredFields"] = ignored
    return body
