"""``/v1/exports/persons`` and ``/v1/exports/events``: streamed downloads (docs/decisions.md)."""

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from audience.attributes.values import InvalidValue, parse_datetime
from audience.auth.dependencies import Db, ReadKey
from audience.clock import to_naive_utc
from audience.errors import validation_error
from audience.exports import service

router = APIRouter(tags=["exports"])
Format = Annotated[Literal["csv", "ndjson"], Query(alias="format")]
MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "ndjson": "application/x-ndjson"}

_STREAM_DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The file, streamed",
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            "application/x-ndjson": {"schema": {"type": "string"}},
        },
    }
}


def parse_time(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        return to_naive_utc(parse_datetime(value))
    except InvalidValue as exc:
        raise validation_error(f"{name}: {exc}", name) from None


def _download(chunks: object, file_format: str, name: str) -> StreamingResponse:
    return StreamingResponse(
        chunks,  # type: ignore[arg-type]
        media_type=MEDIA_TYPES[file_format],
        headers={"Content-Disposition": f'attachment; filename="{name}.{file_format}"'},
    )


@router.get("/v1/exports/persons", response_class=StreamingResponse, responses=_STREAM_DOC)
def export_persons(
    request: Request,
    _key: ReadKey,
    db: Db,
    file_format: Format = "csv",
    segment_id: Annotated[str | None, Query(alias="segmentId")] = None,
) -> StreamingResponse:
    threads = request.app.state.settings.export_threads
    chunks = service.persons_export(db, file_format, segment_id, threads)
    return _download(chunks, file_format, "persons")


@router.get("/v1/exports/events", response_class=StreamingResponse, responses=_STREAM_DOC)
def export_events(
    _key: ReadKey,
    db: Db,
    file_format: Format = "csv",
    since: Annotated[str | None, Query(alias="from")] = None,
    until: Annotated[str | None, Query(alias="to")] = None,
    definition_id: Annotated[str | None, Query(alias="definitionId")] = None,
) -> StreamingResponse:
    chunks = service.events_export(
        db, file_format, parse_time(since, "from"), parse_time(until, "to"), definition_id
    )
    return _download(chunks, file_format, "events")
