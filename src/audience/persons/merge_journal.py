"""The merge journal (docs/identity.md): one row per merge, with what undo needs, and its SQL."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, insert, or_, select, update

from audience.clock import isoformat
from audience.ids import new_id
from audience.installations import queries as installation_queries
from audience.persons import queries
from audience.persons.merge_plan import Holdings
from audience.persons.queries import STANDARD_FIELDS
from audience.tables import person_merges
from audience.webhooks.publish import publish_merge


def holdings_of(conn: Connection, person: Row) -> Holdings:
    """What ``person`` holds that a merge moves or copies, as plain JSON values."""
    identities = queries.identities_of(conn, person.id)
    devices = installation_queries.all_for_person(conn, person.id)
    return {
        "externalUserId": person.external_user_id,
        "phones": identities["phone"],
        "emails": identities["email"],
        "fields": {
            name: getattr(person, name) for name in STANDARD_FIELDS if getattr(person, name)
        },
        "customAttributes": dict(person.custom_attributes or {}),
        "tags": queries.tags_of(conn, person.id),
        "installations": [device.push_registration_id for device in devices],
        "primary": [d.push_registration_id for d in devices if d.is_primary_device],
        "createdAt": isoformat(person.created_at),
        "aliases": queries.profile_ids(conn, person.id)[1:],
    }


@dataclass
class MergeEntry:
    """A journal row, as undo reads it."""

    merge_id: str
    kind: str
    survivor_id: str
    merged_person_id: str
    snapshot: Holdings
    given: Holdings
    inherited: list[str]
    undone_at: datetime | None


def record_merge(
    conn: Connection,
    *,
    survivor_id: str,
    merged_person_id: str,
    kind: str,
    source: str,
    snapshot: Holdings,
    given: Holdings,
    at: datetime,
) -> str:
    """Journal a merge; answers its ``mergeId``.

    The one place every merge (personalize or operator) passes through, inside the merge's
    transaction, so the ``person.merged`` webhook (``{"survivorId", "mergedPersonId",
    "mergeId"}``) is published here.
    """
    merge_id = new_id()
    conn.execute(
        insert(person_merges).values(
            merge_id=merge_id,
            survivor_id=survivor_id,
            merged_person_id=merged_person_id,
            kind=kind,
            source=source,
            snapshot=snapshot,
            given=given,
            inherited=active_merges_into(conn, merged_person_id),
            created_at=at,
        )
    )
    publish_merge(conn, survivor_id, merged_person_id, merge_id=merge_id)
    return merge_id


def active_merges_into(conn: Connection, person_id: str) -> list[str]:
    """Merge ids of the merges into ``person_id`` that are not undone."""
    query = (
        select(person_merges.c.merge_id)
        .where(person_merges.c.survivor_id == person_id, person_merges.c.undone_at.is_(None))
        .order_by(person_merges.c.id)
    )
    return list(conn.execute(query).scalars())


def find(conn: Connection, merge_id: str, for_update: bool = False) -> MergeEntry | None:
    query = select(person_merges).where(person_merges.c.merge_id == merge_id)
    if for_update:
        query = query.with_for_update()
    row = conn.execute(query).first()
    if row is None:
        return None
    return _entry(row)


def _entry(row: Row) -> MergeEntry:
    return MergeEntry(
        merge_id=row.merge_id,
        kind=row.kind,
        survivor_id=row.survivor_id,
        merged_person_id=row.merged_person_id,
        snapshot=row.snapshot,
        given=row.given,
        inherited=list(row.inherited or []),
        undone_at=row.undone_at,
    )


def entries(conn: Connection, merge_ids: list[str]) -> list[MergeEntry]:
    if not merge_ids:
        return []
    query = select(person_merges).where(person_merges.c.merge_id.in_(merge_ids))
    return [_entry(row) for row in conn.execute(query)]


def mark_undone(conn: Connection, merge_id: str, at: datetime) -> None:
    conn.execute(
        update(person_merges).where(person_merges.c.merge_id == merge_id).values(undone_at=at)
    )


def erase_for(conn: Connection, person_ids: list[str]) -> None:
    """A deleted person's data leaves the journal too (R10); its merges stay listed, and can
    no longer be undone."""
    involved = or_(
        person_merges.c.survivor_id.in_(person_ids),
        person_merges.c.merged_person_id.in_(person_ids),
    )
    conn.execute(update(person_merges).where(involved).values(snapshot={}, given={}))


def list_for(
    conn: Connection, person_ids: list[str], before_id: int | None, limit: int
) -> list[Row]:
    """Merges a profile took part in (as survivor or merged person), newest first."""
    query = (
        select(person_merges)
        .where(
            or_(
                person_merges.c.survivor_id.in_(person_ids),
                person_merges.c.merged_person_id.in_(person_ids),
            )
        )
        .order_by(person_merges.c.id.desc())
        .limit(limit + 1)
    )
    if before_id is not None:
        query = query.where(person_merges.c.id < before_id)
    return list(conn.execute(query))


def merge_to_api(row: Row) -> dict[str, Any]:
    return {
        "mergeId": row.merge_id,
        "survivorId": row.survivor_id,
        "mergedPersonId": row.merged_person_id,
        "kind": row.kind,
        "createdAt": isoformat(row.created_at),
        "undoneAt": isoformat(row.undone_at),
    }
