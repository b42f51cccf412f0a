"""``/v1/segments`` (CRUD, count, members, preview) and ``/v1/audiences/resolve``."""

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Response
from fastapi.responses import JSONResponse
from pydantic import Field, model_validator

from audience.auth.dependencies import Db, ReadKey, WriteKey
from audience.errors import validation_error
from audience.models import ApiModel, Count, Name, Page, answers
from audience.pagination import DEFAULT_LIMIT, Cursor, Limit, decode_after, decode_cursor, page
from audience.retention.service import refuse_windows_past_retention
from audience.segments import queries, service
from audience.segments.schemas import Member, Preview, Segment, Target

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


@router.post("/v1/segments", **answers(Segment, 201))
def create_segment(body: SegmentCreate, _key: WriteKey, db: Db) -> dict[str, Any]:
    with db.write() as conn:
        saved = service.create_segment(conn, body.name, body.description, body.rule)
    return service.finish_saving(db, saved["id"])


@router.get("/v1/segments", **answers(Page[Segment]))
def list_segments(
    _key: ReadKey, db: Db, cursor: Cursor = None, limit: Limit = DEFAULT_LIMIT
) -> dict[str, Any]:
    after = decode_after(cursor)
    with db.read() as conn:
        rows = queries.list_segments(conn, after, limit)
        sizes = {row.id: service.size_of(conn, row) for row in rows if row.status == "building"}
    return page(
        rows,
        limit,
        lambda row: [row.id],
        lambda row: service.segment_to_api(row, sizes.get(row.id, row.size)),
    )


@router.post("/v1/segments/preview", **answers(Preview))
def preview_segment(body: RuleBody, _key: ReadKey, db: Db) -> dict[str, Any]:
    with db.read() as conn:
        return service.preview(conn, body.rule)


@router.get("/v1/segments/{segment_id}", **answers(Segment))
def read_segment(segment_id: str, _key: ReadKey, db: Db) -> dict[str, Any]:
    with db.read() as conn:
        row = service.get_segment(conn, segment_id)
        return service.segment_to_api(row, service.size_of(conn, row))


@router.patch("/v1/segments/{segment_id}", **answers(Segment))
def update_segment(segment_id: str, body: SegmentUpdate, _key: WriteKey, db: Db) -> dict[str, Any]:
    changes = body.sent()
    for field in ("name", "rule"):
        if field in changes and changes[field] is None:
            raise validation_error(f"{field} cannot be null", field)
    with db.write() as conn:
        service.update_segment(conn, segment_id, changes)
    return service.finish_saving(db, segment_id)


@router.put("/v1/segments/{segment_id}", **answers(Segment))
def replace_segment(segment_id: str, body: SegmentCreate, _key: WriteKey, db: Db) -> dict[str, Any]:
    with db.write() as conn:
        service.update_segment(conn, segment_id, body.model_dump())
    return service.finish_saving(db, segment_id)


@router.delete("/v1/segments/{segment_id}", status_code=204)
def delete_segment(segment_id: str, _key: WriteKey, db: Db) -> Response:
    with db.write() as conn:
        service.get_segment(conn, segment_id)
        queries.delete_segment(conn, segment_id)
    return Response(status_code=204)


@router.get("/v1/segments/{segment_id}/count", **answers(Count))
def count_segment(segment_id: str, _key: ReadKey, db: Db) -> dict[str, int]:
    with db.read() as conn:
        return {"count": service.size_of(conn, service.get_segment(conn, segment_id))}


@router.get("/v1/segments/{segment_id}/members", **answers(Page[Member]))
def segment_members(
    segment_id: str, _key: ReadKey, db: Db, cursor: Cursor = None, limit: Limit = DEFAULT_LIMIT
) -> dict[str, Any]:
    after = decode_after(cursor)
    with db.read() as conn:
        service.refuse_building(service.get_segment(conn, segment_id))
        rows = queries.members(conn, segment_id, after, limit)
    return page(rows, limit, lambda row: [row.id], service.member_to_api)


@router.post("/v1/audiences/resolve", response_model=None, responses={200: {"model": Page[Target]}})
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
