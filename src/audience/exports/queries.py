"""SQL of exports: keyset pages (constant memory, no long transaction) and their extras."""

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, Row, select

from audience.tables import (
    attribute_definitions,
    event_definitions,
    events,
    person_identities,
    person_tags,
    persons,
    segment_members,
)


def person_page(
    conn: Connection, after_id: str | None, segment_id: str | None, limit: int
) -> list[Row]:
    query = select(persons).order_by(persons.c.id).limit(limit)
    if after_id is not None:
        query = query.where(persons.c.id > after_id)
    if segment_id is not None:
        query = query.join(segment_members, segment_members.c.person_id == persons.c.id).where(
            segment_members.c.segment_id == segment_id
        )
    return list(conn.execute(query))


def identities_of(conn: Connection, person_ids: Sequence[str]) -> dict[str, dict[str, list[str]]]:
    found: dict[str, dict[str, list[str]]] = {}
    query = (
        select(person_identities.c.person_id, person_identities.c.kind, person_identities.c.value)
        .where(person_identities.c.person_id.in_(person_ids))
        .order_by(person_identities.c.created_at, person_identities.c.value)
    )
    for person_id, kind, value in conn.execute(query):
        found.setdefault(person_id, {"phone": [], "email": []})[kind].append(value)
    return found


def tags_of(conn: Connection, person_ids: Sequence[str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    query = (
        select(person_tags.c.person_id, person_tags.c.tag)
        .where(person_tags.c.person_id.in_(person_ids))
        .order_by(person_tags.c.tag)
    )
    for person_id, tag in conn.execute(query):
        found.setdefault(person_id, []).append(tag)
    return found


def person_attribute_names(conn: Connection) -> list[str]:
    query = (
        select(attribute_definitions.c.name)
        .where(attribute_definitions.c.scope == "person")
        .order_by(attribute_definitions.c.name)
    )
    return list(conn.execute(query).scalars())


def event_page(
    conn: Connection,
    after_id: int | None,
    since: datetime | None,
    until: datetime | None,
    definition_id: str | None,
    limit: int,
) -> list[Row]:
    query = select(events).order_by(events.c.id).limit(limit)
    if after_id is not None:
        query = query.where(events.c.id > after_id)
    if since is not None:
        query = query.where(events.c.occurred_at >= since)
    if until is not None:
        query = query.where(events.c.occurred_at <= until)
    if definition_id is not None:
        query = query.where(events.c.definition_id == definition_id)
    return list(conn.execute(query))


def external_ids_of(conn: Connection, person_ids: Sequence[str]) -> dict[str, str]:
    query = select(persons.c.id, persons.c.external_user_id).where(
        persons.c.id.in_(person_ids), persons.c.external_user_id.is_not(None)
    )
    return {person_id: external for person_id, external in conn.execute(query)}


def property_names(conn: Connection) -> list[str]:
    """Every property a custom definition declares (the CSV's ``properties.*`` columns)."""
    names: set[str] = set()
    for (types,) in conn.execute(select(event_definitions.c.properties)):
        names.update(types or {})
    return sorted(names)
