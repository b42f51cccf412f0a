"""``/v1/apps/{id}/push/*`` (credentials) and ``/v1/messages`` (docs/push.md)."""

from typing import Any, Literal

from fastapi import APIRouter, Request, Response

from audience.auth.dependencies import AdminKey, Db, ReadKey, WriteKey
from audience.config import Settings
from audience.errors import validation_error
from audience.pagination import DEFAULT_LIMIT, Cursor, Limit, decode_after, decode_cursor, page
from audience.push import credentials, queries, service
from audience.push.schemas import (
    ApnsCredentialsBody,
    ApnsInfo,
    CredentialsSummary,
    DeliveryPage,
    FcmCredentialsBody,
    FcmInfo,
    MessageCreate,
    MessageCreated,
    MessageOut,
    MessagePage,
)

router = APIRouter(tags=["push"])


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


@router.get("/v1/apps/{app_id}/push", response_model=CredentialsSummary)
def read_credentials(app_id: str, _key: ReadKey, db: Db) -> dict[str, Any]:
    with db.read() as conn:
        return credentials.credentials_summary(conn, app_id)


@router.put("/v1/apps/{app_id}/push/fcm", response_model=FcmInfo)
def put_fcm(
    app_id: str, body: FcmCredentialsBody, request: Request, _key: AdminKey, db: Db
) -> dict[str, Any]:
    with db.write() as conn:
        return credentials.put_fcm(
            conn, _settings(request).secret_key, app_id, body.service_account
        )


@router.put("/v1/apps/{app_id}/push/apns", response_model=ApnsInfo)
def put_apns(
    app_id: str, body: ApnsCredentialsBody, request: Request, _key: AdminKey, db: Db
) -> dict[str, Any]:
    with db.write() as conn:
        return credentials.put_apns(conn, _settings(request).secret_key, app_id, body.model_dump())


@router.delete("/v1/apps/{app_id}/push/{provider}", status_code=204)
def delete_credentials(
    app_id: str, provider: Literal["fcm", "apns"], _key: AdminKey, db: Db
) -> Response:
    with db.write() as conn:
        credentials.delete_credentials(conn, app_id, provider)
    return Response(status_code=204)


@router.post("/v1/messages", status_code=202, response_model=MessageCreated)
def create_message(body: MessageCreate, _key: WriteKey, db: Db) -> dict[str, Any]:
    with db.write() as conn:
        return service.create_message(conn, body.to_fields())


@router.get("/v1/messages", response_model=MessagePage)
def list_messages(
    _key: ReadKey, db: Db, cursor: Cursor = None, limit: Limit = DEFAULT_LIMIT
) -> dict[str, Any]:
    """Newest first."""
    before = decode_cursor(cursor, 2)
    if before is not None and not all(isinstance(part, str) for part in before):
        raise validation_error("Invalid cursor", "cursor")
    with db.read() as conn:
        key = None
        if before is not None:
            anchor = queries.find_message(conn, before[1])
            key = (anchor.created_at, anchor.id) if anchor is not None else None
        rows = queries.list_messages(conn, key, limit)
        return page(
            rows,
            limit,
            lambda row: [row.created_at.isoformat(), row.id],
            lambda row: service.message_to_api(conn, row, full=False),
        )


@router.get("/v1/messages/{message_id}", response_model=MessageOut)
def read_message(message_id: str, _key: ReadKey, db: Db) -> dict[str, Any]:
    with db.read() as conn:
        return service.message_to_api(conn, service.get_message(conn, message_id))


@router.post("/v1/messages/{message_id}/cancel", response_model=MessageOut)
def cancel_message(message_id: str, _key: WriteKey, db: Db) -> dict[str, Any]:
    with db.write() as conn:
        return service.cancel_message(conn, message_id)


@router.get("/v1/messages/{message_id}/deliveries", response_model=DeliveryPage)
def list_deliveries(
    message_id: str, _key: ReadKey, db: Db, cursor: Cursor = None, limit: Limit = DEFAULT_LIMIT
) -> dict[str, Any]:
    after = decode_after(cursor, int)
    with db.read() as conn:
        service.get_message(conn, message_id)
        rows = queries.list_deliveries(conn, message_id, after, limit)
    return page(rows, limit, lambda row: [row.id], service.delivery_to_api)
