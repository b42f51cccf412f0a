"""SQL of segment upkeep: builds, sweeps and the per-person due times of time windows."""

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Row, delete, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from audience.segments.compiler import PROFILE_IDS
from audience.tables import person_aliases, persons, segment_due, segment_members, segments


def lock_segment(conn: Connection, segment_id: str) -> Row | None:
    """The segment, share-locked on PostgreSQL so its rule cannot change under this
    transaction (SQLite writers are serial anyway)."""
    query = select(segments).where(segments.c.id == segment_id)
    if conn.dialect.name != "sqlite":
        query = query.with_for_update(read=True)
    return conn.execute(query).first()


def lock_persons(conn: Connection, person_ids: list[str]) -> set[str]:
    """The persons that exist, locked (PostgreSQL) unless another transaction holds them:
    whoever holds a person's lock re-evaluates it, so a skipped person is retried later."""
    query = select(persons.c.id).where(persons.c.id.in_(sorted(person_ids)))
    if conn.dialect.name != "sqlite":
        query = query.order_by(persons.c.id).with_for_update(skip_locked=True)
    return set(conn.execute(query).scalars())


def existing_persons(conn: Connection, person_ids: list[str]) -> set[str]:
    return set(conn.execute(select(persons.c.id).where(persons.c.id.in_(person_ids))).scalars())


def profile_ids_of(conn: Connection, person_ids: list[str]) -> list[str]:
    """The persons' own ids and every id merged into them (whose events they own)."""
    merged = select(person_aliases.c.alias_id).where(person_aliases.c.person_id.in_(person_ids))
    return list(person_ids) + list(conn.execute(merged).scalars())


def matching_among(
    conn: Connection, condition: ColumnElement[bool], person_ids: list[str], profiles: list[str]
) -> set[str]:
    """Which of ``person_ids`` a "subset"-compiled condition holds for."""
    query = select(persons.c.id).where(persons.c.id.in_(person_ids), condition)
    return set(conn.execute(query, {PROFILE_IDS: profiles}).scalars())


def members_among(conn: Connection, segment_id: str, person_ids: list[str]) -> set[str]:
    query = select(segment_members.c.person_id).where(
        segment_members.c.segment_id == segment_id, segment_members.c.person_id.in_(person_ids)
    )
    return set(conn.execute(query).scalars())


def replace_due(
    conn: Connection, segment_id: str, person_ids: list[str], due: dict[str, datetime]
) -> None:
    """Set these persons' exact due times for one segment (none: never due)."""
    conn.execute(
        delete(segment_due).where(
            segment_due.c.segment_id == segment_id, segment_due.c.person_id.in_(person_ids)
        )
    )
    if due:
        rows = [{"segment_id": segment_id, "person_id": p, "due_at": at} for p, at in due.items()]
        conn.execute(insert(segment_due), rows)


def replace_person_due(conn: Connection, person_id: str, due: dict[str, datetime | None]) -> None:
    """Set one person's exact due times for the segments in ``due`` (None: never due)."""
    conn.execute(
        delete(segment_due).where(
            segment_due.c.person_id == person_id, segment_due.c.segment_id.in_(list(due))
        )
    )
    rows = [
        {"segment_id": sid, "person_id": person_id, "due_at": at}
        for sid, at in due.items()
        if at is not None
    ]
    if rows:
        conn.execute(insert(segment_due), rows)


def lower_due(conn: Connection, segment_id: str, due: dict[str, datetime]) -> None:
    """Store due times computed from an older snapshot: an existing earlier one wins (an early
    due time costs one re-evaluation, a late one would miss a change)."""
    if not due:
        return
    statement: Any
    if conn.dialect.name == "sqlite":
        statement = sqlite_insert(segment_due)
        earliest: Any = func.min(segment_due.c.due_at, statement.excluded.due_at)
    else:
        statement = postgresql_insert(segment_due)
        earliest = func.least(segment_due.c.due_at, statement.excluded.due_at)
    statement = statement.on_conflict_do_update(
        index_elements=[segment_due.c.segment_id, segment_due.c.person_id],
        set_={"due_at": earliest},
    )
    rows = [{"segment_id": segment_id, "person_id": p, "due_at": at} for p, at in due.items()]
    conn.execute(statement, rows)


def due_of_segment(conn: Connection, segment_id: str) -> dict[str, datetime]:
    query = select(segment_due.c.person_id, segment_due.c.due_at).where(
        segment_due.c.segment_id == segment_id
    )
    return {person_id: at for person_id, at in conn.execute(query)}


def due_persons(conn: Connection, before: datetime, limit: int) -> list[Row]:
    """(segment_id, person_id) whose membership may have changed by ``before``."""
    query = (
        select(segment_due.c.segment_id, segment_due.c.person_id)
        .where(segment_due.c.due_at < before)
        .order_by(segment_due.c.due_at)
        .limit(limit)
    )
    return list(conn.execute(query))


def segments_due(conn: Connection, now: datetime) -> list[str]:
    """Ready segments whose whole re-evaluation is due (a ``within_last`` window moved)."""
    query = select(segments.c.id).where(
        segments.c.status == "ready", segments.c.sweep_at.is_not(None), segments.c.sweep_at <= now
    )
    return list(conn.execute(query.order_by(segments.c.id)).scalars())


def segment_ids(conn: Connection, status: str | None = None) -> list[str]:
    query = select(segments.c.id).order_by(segments.c.id)
    if status is not None:
        query = query.where(segments.c.status == status)
    return list(conn.execute(query).scalars())


def set_upkeep(conn: Connection, segment_id: str, status: str, sweep_at: datetime | None) -> None:
    """Status and next whole sweep; ``updated_at`` (the rule's version) stays."""
    conn.execute(
        update(segments).where(segments.c.id == segment_id).values(status=status, sweep_at=sweep_at)
    )
