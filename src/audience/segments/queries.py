"""SQL for segments, their stored membership, and the definitions a rule may name."""

from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Row,
    Select,
    bindparam,
    delete,
    func,
    insert,
    select,
    update,
)

from audience.db import DriverStatement, sqlite_time
from audience.persons.queries import profile_ids
from audience.segments.compiler import PROFILE_IDS
from audience.segments.rules import Definitions
from audience.tables import (
    applications,
    attribute_definitions,
    event_definitions,
    installations,
    persons,
    segment_due,
    segment_members,
    segments,
)


def load_definitions(conn: Connection) -> Definitions:
    by_scope: dict[str, dict[str, str]] = {"person": {}, "installation": {}}
    for row in conn.execute(select(attribute_definitions)):
        by_scope[row.scope][row.name] = row.type
    event_props = {
        row.id: dict(row.properties or {})
        for row in conn.execute(select(event_definitions.c.id, event_definitions.c.properties))
    }
    return Definitions(by_scope["person"], by_scope["installation"], event_props)


def find(conn: Connection, segment_id: str) -> Row | None:
    return conn.execute(select(segments).where(segments.c.id == segment_id)).first()


def insert_segment(conn: Connection, **values: object) -> None:
    conn.execute(insert(segments).values(**values))


def update_segment(conn: Connection, segment_id: str, **values: object) -> None:
    conn.execute(update(segments).where(segments.c.id == segment_id).values(**values))


def delete_segment(conn: Connection, segment_id: str) -> None:
    conn.execute(delete(segment_members).where(segment_members.c.segment_id == segment_id))
    conn.execute(delete(segment_due).where(segment_due.c.segment_id == segment_id))
    conn.execute(delete(segments).where(segments.c.id == segment_id))


def list_segments(conn: Connection, after_id: str | None, limit: int) -> list[Row]:
    size = (
        select(func.count())
        .where(segment_members.c.segment_id == segments.c.id)
        .scalar_subquery()
        .label("size")
    )
    query = select(segments, size).order_by(segments.c.id).limit(limit + 1)
    if after_id is not None:
        query = query.where(segments.c.id > after_id)
    return list(conn.execute(query))


def member_count(conn: Connection, segment_id: str) -> int:
    query = select(func.count()).where(segment_members.c.segment_id == segment_id)
    return int(conn.execute(query).scalar_one())


def members(conn: Connection, segment_id: str, after_id: str | None, limit: int) -> list[Row]:
    query = (
        select(persons, segment_members.c.entered_at)
        .join(segment_members, segment_members.c.person_id == persons.c.id)
        .where(segment_members.c.segment_id == segment_id)
        .order_by(persons.c.id)
        .limit(limit + 1)
    )
    if after_id is not None:
        query = query.where(persons.c.id > after_id)
    return list(conn.execute(query))


_MEMBERSHIPS_OF = DriverStatement("SELECT segment_id FROM segment_members WHERE person_id = ?")


def memberships_of(conn: Connection, person_id: str) -> set[str]:
    """Every segment the person is a stored member of (each write path's refresh reads it)."""
    return {segment_id for (segment_id,) in _MEMBERSHIPS_OF.run(conn, (person_id,))}


# On the driver (every entry of a person into a real-time segment runs it; SQLAlchemy compiled
# an insert with RETURNING anew on every execution). A row lost to a concurrent writer
# returns nothing.
_ADD_MEMBER = DriverStatement(
    "INSERT INTO segment_members (segment_id, person_id, entered_at) VALUES (?, ?, ?) "
    "ON CONFLICT DO NOTHING RETURNING person_id"
)


def add_members(
    conn: Connection, segment_id: str, person_ids: list[str], at: datetime
) -> list[str]:
    """Store memberships; answers the persons actually added. A concurrent writer that added
    one first wins it, so each entry is recorded (and its event written) exactly once."""
    if not person_ids:
        return []
    stamp = sqlite_time(at) if conn.dialect.name == "sqlite" else at
    added: list[str] = []
    for person_id in person_ids:
        added += [row[0] for row in _ADD_MEMBER.run(conn, (segment_id, person_id, stamp))]
    return added


def remove_members(conn: Connection, segment_id: str, person_ids: list[str]) -> list[str]:
    """Delete memberships; answers the persons actually removed (see ``add_members``)."""
    removed: list[str] = []
    for start in range(0, len(person_ids), 500):
        chunk = person_ids[start : start + 500]
        result = conn.execute(
            delete(segment_members)
            .where(
                segment_members.c.segment_id == segment_id,
                segment_members.c.person_id.in_(chunk),
            )
            .returning(segment_members.c.person_id)
        )
        removed += result.scalars()
    return removed


def forget_person(conn: Connection, person_id: str) -> None:
    """Drop a person's memberships without events (the person is gone or merged away)."""
    conn.execute(delete(segment_members).where(segment_members.c.person_id == person_id))
    conn.execute(delete(segment_due).where(segment_due.c.person_id == person_id))


def count_matching(conn: Connection, condition: ColumnElement[bool]) -> int:
    return int(
        conn.execute(select(func.count()).select_from(persons).where(condition)).scalar_one()
    )


def matching_persons(
    conn: Connection, condition: ColumnElement[bool], after_id: str | None, limit: int
) -> list[Row]:
    query = select(persons).where(condition).order_by(persons.c.id).limit(limit)
    if after_id is not None:
        query = query.where(persons.c.id > after_id)
    return list(conn.execute(query))


def entering(conn: Connection, segment_id: str, condition: ColumnElement[bool]) -> list[str]:
    stored = select(segment_members.c.person_id).where(segment_members.c.segment_id == segment_id)
    query = select(persons.c.id).where(condition, persons.c.id.not_in(stored))
    return list(conn.execute(query).scalars())


def leaving(conn: Connection, segment_id: str, condition: ColumnElement[bool]) -> list[str]:
    matching = select(persons.c.id).where(condition)
    query = select(segment_members.c.person_id).where(
        segment_members.c.segment_id == segment_id, segment_members.c.person_id.not_in(matching)
    )
    return list(conn.execute(query).scalars())


def person_flags_statement(
    conditions: dict[str, ColumnElement[bool]],
) -> tuple[list[str], Select]:
    """One statement answering, for the person bound as ``person_id``, which conditions hold."""
    keys = list(conditions)
    columns: list[Any] = [conditions[key].label(f"c{i}") for i, key in enumerate(keys)]
    if not columns:
        columns = [persons.c.id]
    return keys, select(*columns).where(persons.c.id == bindparam("person_id"))


def run_person_flags(
    conn: Connection, keys: list[str], statement: Select, person_id: str
) -> set[str]:
    if not keys:
        return set()
    params = {"person_id": person_id, PROFILE_IDS: profile_ids(conn, person_id)}
    row = conn.execute(statement, params).first()
    if row is None:
        return set()
    return {key for key, value in zip(keys, row, strict=True) if value}


def person_flags(
    conn: Connection, person_id: str, conditions: dict[str, ColumnElement[bool]]
) -> set[str]:
    """Which of ``conditions`` hold for one person, in one query."""
    keys, statement = person_flags_statement(conditions)
    return run_person_flags(conn, keys, statement, person_id)


def resolve_installations(
    conn: Connection,
    *,
    segment_id: str | None,
    condition: ColumnElement[bool] | None,
    application_code: str | None,
    platform: str | None,
    push_registration_enabled_only: bool,
    notifications_enabled_only: bool,
    primary_device_only: bool,
    after: tuple[str, str] | None,
    limit: int,
) -> list[Row]:
    """Live installations of a segment's stored members (or of a rule's matches), keyset-
    paginated by (personId, pushRegistrationId) so each page walks the member index in order
    instead of re-reading the whole audience.

    With ``primary_device_only`` a person's primary installation is taken, or every live one
    when the person has no primary (primary is judged over all live devices, before filters).
    """
    if segment_id is not None:
        owner = segment_members.c.person_id
        query = (
            select()
            .select_from(segment_members.join(installations, installations.c.person_id == owner))
            .where(segment_members.c.segment_id == segment_id)
        )
    else:
        assert condition is not None
        owner = persons.c.id
        query = (
            select()
            .select_from(persons.join(installations, installations.c.person_id == owner))
            .where(condition)
        )
    query = (
        query.add_columns(
            installations.c.push_registration_id,
            installations.c.push_service_type,
            installations.c.push_service_token,
            installations.c.person_id,
        )
        .where(installations.c.uninstalled_at.is_(None))
        .order_by(owner, installations.c.push_registration_id)
        .limit(limit + 1)
    )
    if application_code:
        query = query.join(applications, applications.c.id == installations.c.application_id).where(
            applications.c.application_code == application_code
        )
    if platform:
        query = query.where(installations.c.platform == platform)
    if push_registration_enabled_only:
        query = query.where(installations.c.push_registration_enabled.is_(True))
    if notifications_enabled_only:
        query = query.where(installations.c.notifications_enabled.is_(True))
    if primary_device_only:
        other = installations.alias("other")
        has_primary = (
            select(other.c.push_registration_id)
            .where(
                other.c.person_id == installations.c.person_id,
                other.c.uninstalled_at.is_(None),
                other.c.is_primary_device.is_(True),
            )
            .exists()
        )
        query = query.where(installations.c.is_primary_device.is_(True) | ~has_primary)
    if after is not None:
        last_person, last_installation = after
        # ``owner >= last`` alone lets the database seek in the member index; the OR alone
        # would make every page scan the audience from its start.
        query = query.where(
            owner >= last_person,
            (owner > last_person)
            | ((owner == last_person) & (installations.c.push_registration_id > last_installation)),
        )
    return list(conn.execute(query))
