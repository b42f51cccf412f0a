"""SQL for persons, their identities, tags, aliases and audit trail."""

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Row,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy import text as sql_text

from audience.db import DriverSelect, DriverStatement, TableWriter, sqlite_time
from audience.ids import new_id
from audience.tables import (
    events,
    installations,
    person_aliases,
    person_changes,
    person_identities,
    person_tags,
    persons,
)

# The standard person attributes (columns of ``persons``) besides identities.
STANDARD_FIELDS = ("first_name", "last_name", "middle_name", "gender", "birthday")


# The statements of the mobile hot paths (register, personalize, person update) are built
# once: building a SQLAlchemy statement and its cache key cost more than running it.
_INSERT_ANONYMOUS = DriverStatement(
    "INSERT INTO persons (id, type, custom_attributes, created_at, updated_at, protected) "
    "VALUES (?, 'ANONYMOUS', '{}', ?, ?, ?)"
)
_PERSON_EXISTS = DriverStatement("SELECT id FROM persons WHERE id = ?")
_ALIASES_OF = DriverStatement("SELECT alias_id FROM person_aliases WHERE person_id = ?")
_ALIAS_TARGET = DriverStatement("SELECT person_id FROM person_aliases WHERE alias_id = ?")
_find = DriverSelect(select(persons).where(persons.c.id == bindparam("b_id")))
_find_for_update = DriverSelect(_find.statement.with_for_update())
_persons_writer = TableWriter(persons)
_identities_writer = TableWriter(person_identities)
_changes_writer = TableWriter(person_changes)
_identities = DriverSelect(
    select(person_identities.c.kind, person_identities.c.value)
    .where(person_identities.c.person_id == bindparam("b_id"))
    .order_by(person_identities.c.created_at, person_identities.c.value)
)
_tags = DriverSelect(select(person_tags.c.tag).where(person_tags.c.person_id == bindparam("b_id")))
_owner_by_external_id = DriverSelect(
    select(persons.c.id).where(persons.c.external_user_id == bindparam("b_external_user_id"))
)
# A list travels as one JSON array (one statement text whatever its length).
_IDENTITY_OWNERS = DriverStatement(
    "SELECT person_id FROM person_identities WHERE kind = ? "
    "AND value IN (SELECT value FROM json_each(?))",
    "SELECT person_id FROM person_identities WHERE kind = ? "
    "AND value = ANY(ARRAY(SELECT jsonb_array_elements_text(CAST(? AS jsonb))))",
)
_insert_tags = insert(person_tags)


def insert_anonymous_person(conn: Connection, at: datetime) -> str:
    person_id = new_id()
    stamp = sqlite_time(at) if conn.dialect.name == "sqlite" else at
    _INSERT_ANONYMOUS.send(conn, (person_id, stamp, stamp, False))
    return person_id


def insert_person(conn: Connection, **values: Any) -> None:
    conn.execute(insert(persons).values(**values))


def resolve_person_id(conn: Connection, person_id: str) -> str | None:
    """The live person an id names: itself, or the survivor it was merged into; else None."""
    found = _PERSON_EXISTS.run(conn, (person_id,)).fetchone()
    if found is not None:
        return str(found[0])
    survivor = _ALIAS_TARGET.run(conn, (person_id,)).fetchone()
    return str(survivor[0]) if survivor is not None else None


def profile_ids(conn: Connection, person_id: str) -> list[str]:
    """Every id whose events belong to this person: its own and those merged into it.

    Events keep the person id they were recorded under; a merge only adds an alias row, so
    reading a person's events means reading all of these ids.
    """
    return [person_id, *(alias for (alias,) in _ALIASES_OF.run(conn, (person_id,)))]


def find(conn: Connection, person_id: str, for_update: bool = False) -> Any | None:
    """The person's row (a named tuple of its columns), locked if asked."""
    return (_find_for_update if for_update else _find).first(conn, b_id=person_id)


def update_person(conn: Connection, person_id: str, **values: Any) -> None:
    _persons_writer.update(conn, person_id, **values)


def identities_of(conn: Connection, person_id: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {"phone": [], "email": []}
    for kind, value in _identities.rows(conn, b_id=person_id):
        found[kind].append(value)
    return found


# A person's answer needs both lists: one statement, not two (a round trip on PostgreSQL).
_IDENTITIES_AND_TAGS = DriverStatement(
    "SELECT kind, value FROM ("
    "SELECT 0 AS part, kind, value, created_at FROM person_identities WHERE person_id = ? "
    "UNION ALL SELECT 1, 'tag', tag, NULL FROM person_tags WHERE person_id = ?"
    ") AS found ORDER BY part, created_at, value"
)


def identities_and_tags(conn: Connection, person_id: str) -> tuple[dict[str, list[str]], list[str]]:
    """:func:`identities_of` and :func:`tags_of` together."""
    found: dict[str, list[str]] = {"phone": [], "email": [], "tag": []}
    for kind, value in _IDENTITIES_AND_TAGS.run(conn, (person_id, person_id)).fetchall():
        found[kind].append(value)
    tags = found.pop("tag")
    tags.sort()
    return found, tags


def owners(
    conn: Connection, external_user_id: str | None, phones: list[str], emails: list[str]
) -> set[str]:
    """Ids of the persons owning any of these identity values."""
    found: set[str] = set()
    if external_user_id is not None:
        rows = _owner_by_external_id.rows(conn, b_external_user_id=external_user_id)
        found.update(row.id for row in rows)
    for kind, values in (("phone", phones), ("email", emails)):
        if values:
            rows = _IDENTITY_OWNERS.run(conn, (kind, json.dumps(values)))
            found.update(person_id for (person_id,) in rows)
    return found


def add_identities(
    conn: Connection, person_id: str, kind: str, values: Iterable[str], at: datetime
) -> None:
    rows = [
        {"kind": kind, "value": value, "person_id": person_id, "created_at": at} for value in values
    ]
    _identities_writer.insert_many(conn, rows)


def remove_identities(conn: Connection, person_id: str, kind: str, values: Iterable[str]) -> None:
    values = list(values)
    if values:
        conn.execute(
            delete(person_identities).where(
                person_identities.c.person_id == person_id,
                person_identities.c.kind == kind,
                person_identities.c.value.in_(values),
            )
        )


def find_by_identity(conn: Connection, kind: str, value: str) -> str | None:
    if kind == "externalUserId":
        query = select(persons.c.id).where(persons.c.external_user_id == value)
    else:
        query = select(person_identities.c.person_id).where(
            person_identities.c.kind == kind, person_identities.c.value == value
        )
    found = conn.execute(query).scalar()
    return str(found) if found is not None else None


def tags_of(conn: Connection, person_id: str) -> list[str]:
    return sorted(row.tag for row in _tags.rows(conn, b_id=person_id))


def add_tags(conn: Connection, person_id: str, tags: Iterable[str]) -> None:
    rows = [{"person_id": person_id, "tag": tag} for tag in tags]
    if rows:
        conn.execute(_insert_tags, rows)


def remove_tags(conn: Connection, person_id: str, tags: Iterable[str]) -> None:
    tags = list(tags)
    if tags:
        conn.execute(
            delete(person_tags).where(
                person_tags.c.person_id == person_id, person_tags.c.tag.in_(tags)
            )
        )


def tag_counts(conn: Connection, after_tag: str | None, limit: int) -> list[Row]:
    query = (
        select(person_tags.c.tag, func.count().label("count"))
        .group_by(person_tags.c.tag)
        .order_by(person_tags.c.tag)
        .limit(limit + 1)
    )
    if after_tag is not None:
        query = query.where(person_tags.c.tag > after_tag)
    return list(conn.execute(query))


def move_installations(conn: Connection, from_id: str, to_id: str) -> None:
    """Re-link every installation of ``from_id`` to ``to_id``; if ``to_id`` already has a
    primary device it stays the only one (R5)."""
    has_primary = conn.execute(
        select(installations.c.push_registration_id).where(
            installations.c.person_id == to_id,
            installations.c.is_primary_device.is_(True),
            installations.c.uninstalled_at.is_(None),
        )
    ).first()
    values: dict[str, Any] = {"person_id": to_id}
    if has_primary is not None:
        values["is_primary_device"] = False
    conn.execute(update(installations).where(installations.c.person_id == from_id).values(**values))


def add_alias(conn: Connection, alias_id: str, person_id: str, at: datetime) -> None:
    """``alias_id`` (and every id already merged into it) now resolves to ``person_id``."""
    conn.execute(
        update(person_aliases)
        .where(person_aliases.c.person_id == alias_id)
        .values(person_id=person_id)
    )
    conn.execute(
        insert(person_aliases).values(alias_id=alias_id, person_id=person_id, created_at=at)
    )


def delete_person_row(conn: Connection, person_id: str) -> None:
    conn.execute(delete(person_identities).where(person_identities.c.person_id == person_id))
    conn.execute(delete(person_tags).where(person_tags.c.person_id == person_id))
    conn.execute(delete(persons).where(persons.c.id == person_id))


def erase_person(conn: Connection, person_id: str, ids: list[str], at: datetime) -> None:
    """R10: the person, its identities, tags, events and audit; installations become tombstones."""
    conn.execute(delete(events).where(events.c.person_id.in_(ids)))
    conn.execute(delete(person_changes).where(person_changes.c.person_id.in_(ids)))
    conn.execute(delete(person_aliases).where(person_aliases.c.person_id == person_id))
    conn.execute(
        update(installations)
        .where(installations.c.person_id == person_id, installations.c.uninstalled_at.is_(None))
        .values(uninstalled_at=at, updated_at=at, is_primary_device=False)
    )
    conn.execute(
        update(installations).where(installations.c.person_id == person_id).values(person_id=None)
    )
    delete_person_row(conn, person_id)


def list_persons(
    conn: Connection,
    *,
    type_: str | None,
    tag: str | None,
    external_user_id: str | None,
    updated_since: datetime | None,
    after_id: str | None,
    limit: int,
    search: str | None = None,
) -> list[Row]:
    query = select(persons).order_by(persons.c.id).limit(limit + 1)
    if search:
        query = query.where(search_condition(search))
    if type_ is not None:
        query = query.where(persons.c.type == type_)
    if tag is not None:
        tagged = select(person_tags.c.person_id).where(person_tags.c.tag == tag)
        query = query.where(persons.c.id.in_(tagged))
    if external_user_id is not None:
        query = query.where(persons.c.external_user_id == external_user_id)
    if updated_since is not None:
        query = query.where(persons.c.updated_at >= updated_since)
    if after_id is not None:
        query = query.where(persons.c.id > after_id)
    return list(conn.execute(query))


def search_condition(text: str) -> ColumnElement[bool]:
    """A person whose id or externalUserId is ``text``, or whose email, phone, first name,
    last name or full name starts with it (names and emails ignore case)."""
    text = text.strip()
    lowered = text.lower()
    phone_prefix = "+" + text.lstrip("+").replace(" ", "") if text[:1] in "+0123456789" else None
    identity_match = person_identities.c.value.startswith(lowered, autoescape=True)
    if phone_prefix:
        identity_match = or_(
            identity_match, person_identities.c.value.startswith(phone_prefix, autoescape=True)
        )
    full_name = func.lower(
        func.coalesce(persons.c.first_name, "") + " " + func.coalesce(persons.c.last_name, "")
    )
    return or_(
        persons.c.id == text,
        persons.c.external_user_id == text,
        persons.c.id.in_(select(person_identities.c.person_id).where(identity_match)),
        func.lower(persons.c.first_name).startswith(lowered, autoescape=True),
        func.lower(persons.c.last_name).startswith(lowered, autoescape=True),
        full_name.startswith(lowered, autoescape=True),
    )


def insert_changes(conn: Connection, rows: list[dict[str, Any]]) -> None:
    _changes_writer.insert_many(conn, rows)


def list_changes(conn: Connection, ids: list[str], before_id: int | None, limit: int) -> list[Row]:
    query = (
        select(person_changes)
        .where(person_changes.c.person_id.in_(ids))
        .order_by(person_changes.c.id.desc())
        .limit(limit + 1)
    )
    if before_id is not None:
        query = query.where(person_changes.c.id < before_id)
    return list(conn.execute(query))


def events_page(conn: Connection, ids: list[str], after_id: int | None, limit: int) -> list[Row]:
    """The events of these ids in id order, ``limit`` at a time (the export's pages)."""
    query = select(events).where(events.c.person_id.in_(ids)).order_by(events.c.id).limit(limit)
    if after_id is not None:
        query = query.where(events.c.id > after_id)
    return list(conn.execute(query))


# PostgreSQL only (SQLite has one writer anyway).
_lock_persons = DriverSelect(
    select(persons)
    .where(
        sql_text(
            "persons.id = ANY(ARRAY(SELECT jsonb_array_elements_text(CAST(:b_ids AS jsonb))))"
        ).bindparams(bindparam("b_ids"))
    )
    .order_by(persons.c.id)
    .with_for_update()
)


def lock_persons(conn: Connection, person_ids: Iterable[str | None]) -> dict[str, Any]:
    """Lock these persons' rows in id order: two transactions that both need the same two
    persons then queue instead of deadlocking (PostgreSQL; SQLite has one writer anyway).
    Answers the locked rows by id (as :func:`find` reads them, so the caller need not read
    them again); nothing on SQLite."""
    ids = sorted({person_id for person_id in person_ids if person_id is not None})
    if not ids or conn.dialect.name == "sqlite":
        return {}
    return {row.id: row for row in _lock_persons.rows(conn, b_ids=json.dumps(ids))}


_HOLDS_JWT_APP_INSTALLATION = DriverStatement(
    "SELECT 1 FROM installations i JOIN applications a ON a.id = i.application_id "
    "WHERE i.person_id = ? AND i.uninstalled_at IS NULL AND a.require_user_jwt = ? LIMIT 1"
)


def holds_live_installation_of_jwt_app(conn: Connection, person_id: str) -> bool:
    return _HOLDS_JWT_APP_INSTALLATION.run(conn, (person_id, True)).fetchone() is not None


def mark_protected(conn: Connection, person_id: str) -> None:
    conn.execute(
        update(persons)
        .where(persons.c.id == person_id, persons.c.protected.is_(False))
        .values(protected=True)
    )


def move_identities(
    conn: Connection, from_id: str, to_id: str, kind: str, values: list[str] | None = None
) -> None:
    """Give ``to_id`` the phones or emails of ``from_id`` (only ``values``, when given)."""
    query = update(person_identities).where(
        person_identities.c.person_id == from_id, person_identities.c.kind == kind
    )
    if values is not None:
        query = query.where(person_identities.c.value.in_(values))
    conn.execute(query.values(person_id=to_id))


def identity_owners(conn: Connection, kind: str, values: list[str]) -> dict[str, str]:
    """The owner of each of these phones or emails that has one."""
    if not values:
        return {}
    query = select(person_identities.c.value, person_identities.c.person_id).where(
        person_identities.c.kind == kind, person_identities.c.value.in_(values)
    )
    return {value: owner for value, owner in conn.execute(query)}


def alias_target(conn: Connection, alias_id: str) -> str | None:
    """The live person a merged-away id resolves to, or None (not merged, or erased)."""
    found = conn.execute(
        select(person_aliases.c.person_id).where(person_aliases.c.alias_id == alias_id)
    ).scalar()
    return str(found) if found is not None else None


def remove_alias(conn: Connection, alias_id: str) -> None:
    conn.execute(delete(person_aliases).where(person_aliases.c.alias_id == alias_id))


def set_alias_target(conn: Connection, alias_id: str, person_id: str) -> None:
    conn.execute(
        update(person_aliases)
        .where(person_aliases.c.alias_id == alias_id)
        .values(person_id=person_id)
    )
