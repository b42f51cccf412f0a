"""``/v1/segments`` (CRUD, count, members, preview) and ``/v1/audiences/resolve``."""

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Response
from fastapi.responses import JSONResponse
from pydantic import Field, model_validator

from audience.auth.dependencies import Db, ReadKey, WriteKey
from audience.errors import validation_error
from audience.models import ApiModel, Name
from audience.pagination import DEFAULT_LIMIT, Cursor, Limit, decode_after, decode_cursor, page
from audience.retention.service import refuse_windows_past_retention
from audience.segments import queries, service

router = APIRouter(tags=["segments"], dependencies=[Depends(refuse_windows_past_retention)])

Description = Annotated[str | None, Field(max_length=1000)]


class SegmentCreate(ApiModel):
    name: Name
    description: Description = None
    rule: dict[str, Any]


class SegmentUpdate(ApiModel):
    name: Name | None = None
    description: Description = None
    rule: dict[str, Any] | None = None


class RuleBody(ApiModel):
    rule: dict[str, Any]


class ResolveRequest(ApiModel):
    segment_id: str | None = None
    rule: dict[str, Any] | None = None
    application_code: str | None = None
    platform: Literal["Android", "iOS"] | None = None
    primary_device_only: bool = False
    push_registration_enabled_only: bool = False
    notifications_enabled_only: bool = False

    @model_validator(mode="after")
    def _one_audience(self) -> "ResolveRequest":
        if (self.segment_id is None) == (self.rule is None):
            raise ValueError("give exactly one of segmentId and rule")
        return self


@router.post("/v1/segments", status_code=201)
def create_segment(body: SegmentCreate, _key: WriteKey, db: Db) -> dict[str, Any]:
    with db.write() as conn:
        return service.create_segment(conn, body.name, body.description, body.rule)


@router.get("/v1/segments")
def list_segments(
    _key: ReadKey, db: Db, cursor: Cursor = None, limit: Limit = DEFAULT_LIMIT
) -> dict[str, Any]:
    after = decode_after(cursor)
    with db.read() as conn:
        rows = queries.list_segments(conn, after, limit)
    return page(
        rows, limit, lambda row: [row.id], lambda row: service.segment_to_api(row, row.size)
    )


@router.post("/v1/segments/preview")
def preview_segment(body: RuleBody, _key: ReadKey, db: Db) -> dict[str, Any]:
    with db.read() as conn:
        return service.preview(conn, body.rule)


@router.get("/v1/segments/{segment_id}")
def read_segment(segment_id: str, _key: ReadKey, db: Db) -> dict[str, Any]:
    with db.read() as conn:
        row = service.get_segment(conn, segment_id)
        return service.segment_to_api(row, queries.member_count(conn, segment_id))


@router.patch("/v1/segments/{segment_id}")
def update_segment(segment_id: str, body: SegmentUpdate, _key: WriteKey, db: Db) -> dict[str, Any]:
    changes = body.sent()
    for field in ("name", "rule"):
        if field in changes and changes[field] is None:
            raise validation_error(f"{field} cannot be null", field)
    with db.write() as conn:
        return service.update_segment(conn, segment_id, changes)


@router.put("/v1/segments/{segment_id}")
def replace_segment(segment_id: str, body: SegmentCreate, _key: WriteKey, db: Db) -> dict[str, Any]:
    with db.write() as conn:
        return service.update_segment(conn, segment_id, body.model_dump())


@router.delete("/v1/segments/{segment_id}", status_code=204)
def delete_segment(segment_id: str, _key: WriteKey, db: Db) -> Response:
    with db.write() as conn:
        service.get_segment(conn, segment_id)
        queries.delete_segment(conn, segment_id)
    return Response(status_code=204)


@router.get("/v1/segments/{segment_id}/count")
def count_segment(segment_id: str, _key: ReadKey, db: Db) -> dict[str, int]:
    with db.read() as conn:
        service.get_segment(conn, segment_id)
        return {"count": queries.member_count(conn, segment_id)}


@router.get("/v1/segments/{segment_id}/members")
def segment_members(
    segment_id: str, _key: ReadKey, db: Db, cursor: Cursor = None, limit: Limit = DEFAULT_LIMIT
) -> dict[str, Any]:
    after = decode_after(cursor)
    with db.read() as conn:
        service.get_segment(conn, segment_id)
        rows = queries.members(conn, segment_id, after, limit)
    return page(rows, limit, lambda row: [row.id], service.member_to_api)


@router.post("/v1/audiences/resolve", response_model=None)
def resolve_audience(
    body: ResolveRequest,
    _key: ReadKey,
    db: Db,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> JSONResponse:
    """Deliverable installations, as plain JSON: pages of up to 1000 rows are the hot path of
    a campaign send, so no response model re-validates them."""
    after = decode_cursor(cursor, 2)
    if after is not None and not all(isinstance(part, str) for part in after):
        raise validation_error("Invalid cursor", "cursor")
    with db.read() as conn:
        rows = service.resolve(
            conn, body.model_dump(), (after[0], after[1]) if after else None, limit
        )
    return JSONResponse(
        page(
            rows,
            limit,
            lambda row: [row.person_id, row.push_registration_id],
            service.target_to_api,
        )
    )
