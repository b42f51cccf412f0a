"""``/v1/imports``: upload a file (streamed into storage as it arrives), follow the job, list
its row errors."""

from typing import Annotated, Literal

import anyio
from fastapi import APIRouter, Query, Request

from audience.auth.dependencies import Db, ReadKey, WriteKey
from audience.db import Database
from audience.imports import queries, service
from audience.models import ApiModel
from audience.pagination import DEFAULT_LIMIT, Cursor, Limit, decode_after, page

router = APIRouter(tags=["imports"])
IMPORTS_PATH = "/v1/imports"


class ImportStarted(ApiModel):
    id: str
    status: str


class ImportOut(ApiModel):
    id: str
    kind: str
    format: str
    dry_run: bool
    status: str
    rows: int
    created: int
    updated: int
    failed: int
    error: str | None
    created_at: str
    updated_at: str


class ImportError_(ApiModel):
    row: int
    field: str | None
    code: str
    message: str


class ImportErrorPage(ApiModel):
    items: list[ImportError_]
    next_cursor: str | None


def _store_chunk(db: Database, import_id: str, seq: int, data: bytes) -> None:
    with db.write() as conn:
        queries.insert_chunk(conn, import_id, seq, data)


def _finish(db: Database, import_id: str) -> None:
    with db.write() as conn:
        service.finish_upload(conn, import_id)


@router.post(
    IMPORTS_PATH, status_code=202, response_model=ImportStarted, response_model_by_alias=True
)
async def start_import(
    request: Request,
    key: WriteKey,
    db: Db,
    kind: Annotated[Literal["persons", "events"], Query()],
    file_format: Annotated[Literal["csv", "ndjson"], Query(alias="format")] = "csv",
    dry_run: Annotated[bool, Query(alias="dryRun")] = False,
) -> dict[str, str]:
    """The body is the file; it is stored a megabyte at a time as it arrives, never held."""

    def create() -> str:
        with db.write() as conn:
            return service.create_import(conn, kind, file_format, dry_run, key.source)

    import_id = await anyio.to_thread.run_sync(create)
    seq = 0
    buffer = bytearray()
    try:
        async for piece in request.stream():
            buffer += piece
            if len(buffer) >= service.CHUNK_BYTES:
                await anyio.to_thread.run_sync(_store_chunk, db, import_id, seq, bytes(buffer))
                seq += 1
                buffer.clear()
        if buffer:
            await anyio.to_thread.run_sync(_store_chunk, db, import_id, seq, bytes(buffer))
        await anyio.to_thread.run_sync(_finish, db, import_id)
    except BaseException:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(service.fail, db, import_id, "the upload was cut off")
        raise
    return {"id": import_id, "status": "running"}


@router.get(IMPORTS_PATH + "/{import_id}", response_model=ImportOut, response_model_by_alias=True)
def get_import(import_id: str, _key: ReadKey, db: Db) -> dict[str, object]:
    with db.read() as conn:
        row = queries.find(conn, import_id)
    if row is None:
        raise service.import_not_found(import_id)
    return service.import_to_api(row)


@router.get(
    IMPORTS_PATH + "/{import_id}/errors",
    response_model=ImportErrorPage,
    response_model_by_alias=True,
)
def list_import_errors(
    import_id: str, _key: ReadKey, db: Db, cursor: Cursor = None, limit: Limit = DEFAULT_LIMIT
) -> dict[str, object]:
    after = decode_after(cursor, int)
    with db.read() as conn:
        if queries.find(conn, import_id) is None:
            raise service.import_not_found(import_id)
        rows = queries.list_errors(conn, import_id, after, limit)
    return page(rows, limit, lambda row: [int(row.row)], service.error_to_api)
