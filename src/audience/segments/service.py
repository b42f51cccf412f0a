"""Segment rules: validate on save, evaluate in full on save, preview, resolve audiences."""

from typing import Any

from sqlalchemy import Connection, Row

from audience.clock import isoformat, utcnow
from audience.errors import NotFound
from audience.ids import new_id
from audience.observability import SEGMENT_EVALUATIONS
from audience.segments import membership, queries
from audience.segments.compiler import compile_rule

# Offered to the other features (they use segments only through this module): keep a changed
# person's memberships current within the request, and forget a person that goes away.
from audience.segments.membership import refresh_person as refresh_person
from audience.segments.queries import forget_person as forget_person
from audience.segments.rules import Rule, parse_rule

SAMPLE_SIZE = 20


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
        "createdAt": isoformat(row.created_at),
        "updatedAt": isoformat(row.updated_at),
    }
    if size is not None:
        body["size"] = size
    return body


def parse(conn: Connection, raw_rule: Any) -> Rule:
    return parse_rule(raw_rule, queries.load_definitions(conn))


def get_segment(conn: Connection, segment_id: str) -> Row:
    row = queries.find(conn, segment_id)
    if row is None:
        raise NotFound(f"No segment '{segment_id}'")
    return row


def create_segment(
    conn: Connection, name: str, description: str | None, raw_rule: Any
) -> dict[str, Any]:
    rule = parse(conn, raw_rule)
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
    )
    membership.sweep_segment(conn, segment_id, rule, now)
    return segment_to_api(get_segment(conn, segment_id), queries.member_count(conn, segment_id))


def update_segment(conn: Connection, segment_id: str, changes: dict[str, Any]) -> dict[str, Any]:
    get_segment(conn, segment_id)
    rule = parse(conn, changes["rule"]) if "rule" in changes else None
    now = utcnow()
    queries.update_segment(conn, segment_id, **changes, updated_at=now)
    if rule is not None:
        membership.sweep_segment(conn, segment_id, rule, now)
    return segment_to_api(get_segment(conn, segment_id), queries.member_count(conn, segment_id))


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
        get_segment(conn, segment_id)
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
