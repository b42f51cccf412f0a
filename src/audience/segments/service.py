"""Segment rules: validate on save, build the membership after it, preview, resolve audiences.

Saving a rule only stores it, as "building" (short: it holds the write lock); the membership
is then built outside that lock (``upkeep.build_segment``), in the request for up to
``BUILD_IN_REQUEST_SECONDS``, else by the background worker (``upkeep.build_pending``).
While a segment builds, its size, count and resolve answer from a fresh evaluation of the
rule (what the membership will be); its member list answers 409 ``SEGMENT_BUILDING``.
"""

from typing import Any

from sqlalchemy import Connection, Row

from audience.clock import isoformat, utcnow
from audience.db import Database
from audience.errors import ApiError, NotFound
from audience.ids import new_id
from audience.observability import SEGMENT_EVALUATIONS
from audience.segments import queries, upkeep
from audience.segments.compiler import compile_rule
from audience.segments.cost import check_cost

# Offered to the other features (they use segments only through this module): keep a changed
# person's memberships current within the request, and forget a person that goes away.
from audience.segments.membership import refresh_person as refresh_person
from audience.segments.queries import forget_person as forget_person
from audience.segments.rules import Rule, parse_rule
from audience.segments.upkeep import refresh_persons as refresh_persons

SAMPLE_SIZE = 20
# How long a save waits for its membership before answering with "status": "building".
BUILD_IN_REQUEST_SECONDS = 2.0


def person_summary(row: Row) -> dict[str, Any]:
    return {
        "id": row.id,
        "type": row.type,
        "externalUserId": row.external_user_id,
        "firstName": row.first_name,
        "lastName": row.last_name,
        "createdAt": isoformat(row.created_at),
        "updatedAt": isoformat(row.updated_at),
    }


def member_to_api(row: Row) -> dict[str, Any]:
    return person_summary(row) | {"enteredAt": isoformat(row.entered_at)}


def target_to_api(row: Row) -> dict[str, Any]:
    return {
        "pushRegistrationId": row.push_registration_id,
        "pushServiceType": row.push_service_type,
        "pushServiceToken": row.push_service_token,
        "personId": row.person_id,
    }


def segment_to_api(row: Row, size: int | None = None) -> dict[str, Any]:
    body = {
        "id": row.id,
        "name": row.name,
        "description": row.description,
        "rule": row.rule,
        "status": row.status,
        "createdAt": isoformat(row.created_at),
        "updatedAt": isoformat(row.updated_at),
    }
    if size is not None:
        body["size"] = size
    return body


def parse(conn: Connection, raw_rule: Any) -> Rule:
    """A valid rule within the cost limit (checked before any preview, resolve or save)."""
    return check_cost(parse_rule(raw_rule, queries.load_definitions(conn)))


def get_segment(conn: Connection, segment_id: str) -> Row:
    row = queries.find(conn, segment_id)
    if row is None:
        raise NotFound(f"No segment '{segment_id}'")
    return row


def size_of(conn: Connection, row: Row) -> int:
    """The stored member count; while building, a fresh count of the rule's matches."""
    if row.status == upkeep.BUILDING:
        return queries.count_matching(conn, compile_rule(parse(conn, row.rule), utcnow()))
    return queries.member_count(conn, row.id)


def refuse_building(row: Row) -> None:
    if row.status == upkeep.BUILDING:
        raise ApiError(
            409,
            "SEGMENT_BUILDING",
            f"Segment '{row.id}' is still building its membership; its count and resolve "
            "already answer, its member list once it is ready",
        )


def create_segment(
    conn: Connection, name: str, description: str | None, raw_rule: Any
) -> dict[str, Any]:
    """Store a new segment as "building"; ``finish_saving`` builds it after the commit."""
    parse(conn, raw_rule)
    now = utcnow()
    segment_id = new_id()
    queries.insert_segment(
        conn,
        id=segment_id,
        name=name,
        description=description,
        rule=raw_rule,
        created_at=now,
        updated_at=now,
        status=upkeep.BUILDING,
    )
    return segment_to_api(get_segment(conn, segment_id))


def update_segment(conn: Connection, segment_id: str, changes: dict[str, Any]) -> dict[str, Any]:
    """Store the changes; a changed rule makes the segment "building" again (see
    ``finish_saving``)."""
    current = get_segment(conn, segment_id)
    if "rule" in changes:
        parse(conn, changes["rule"])
        if changes["rule"] != current.rule:
            changes = changes | {"status": upkeep.BUILDING}
    queries.update_segment(conn, segment_id, **changes, updated_at=utcnow())
    return segment_to_api(get_segment(conn, segment_id))


def finish_saving(db: Database, segment_id: str) -> dict[str, Any]:
    """After a save's commit: build the membership (for a while), answer the segment."""
    with db.read() as conn:
        building = get_segment(conn, segment_id).status == upkeep.BUILDING
    if building:
        upkeep.build_segment(db, segment_id, BUILD_IN_REQUEST_SECONDS)
    with db.read() as conn:
        row = get_segment(conn, segment_id)
        return segment_to_api(row, size_of(conn, row))


def preview(conn: Connection, raw_rule: Any) -> dict[str, Any]:
    condition = compile_rule(parse(conn, raw_rule), utcnow())
    SEGMENT_EVALUATIONS.labels("preview").inc()
    sample = queries.matching_persons(conn, condition, None, SAMPLE_SIZE)
    return {
        "count": queries.count_matching(conn, condition),
        "sample": [person_summary(row) for row in sample],
    }


def resolve(
    conn: Connection, request: dict[str, Any], after: tuple[str, str] | None, limit: int
) -> list[Row]:
    """Deliverable live installations of a segment's stored members or of a rule's matches."""
    segment_id = request.get("segment_id")
    condition = None
    if segment_id is not None:
        row = get_segment(conn, segment_id)
        if row.status == upkeep.BUILDING:  # its members are not all stored yet
            condition = compile_rule(parse(conn, row.rule), utcnow())
            segment_id = None
    else:
        condition = compile_rule(parse(conn, request["rule"]), utcnow())
    return queries.resolve_installations(
        conn,
        segment_id=segment_id,
        condition=condition,
        application_code=request.get("application_code"),
        platform=request.get("platform"),
        push_registration_enabled_only=bool(request.get("push_registration_enabled_only")),
        notifications_enabled_only=bool(request.get("notifications_enabled_only")),
        primary_device_only=bool(request.get("primary_device_only")),
        after=after,
        limit=limit,
    )
