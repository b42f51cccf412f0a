"""``/v1/webhooks``: endpoints, secret rotation, deliveries and redelivery (docs/webhooks.md)."""

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from audience.auth.dependencies import Db, ReadKey, WriteKey
from audience.clock import isoformat
from audience.errors import validation_error
from audience.models import ApiModel
from audience.pagination import DEFAULT_LIMIT, Cursor, Limit, decode_after, decode_cursor, page
from audience.webhooks import queries, service

router = APIRouter(tags=["webhooks"])

Url = Annotated[str, Field(min_length=1, max_length=2048)]
Types = Annotated[list[Annotated[str, Field(min_length=1, max_length=64)]], Field(max_length=100)]
Description = Annotated[str | None, Field(max_length=1000)]


class WebhookCreate(ApiModel):
    url: Url
    types: Types
    description: Description = None
    enabled: bool = True


class WebhookUpdate(ApiModel):
    url: Url | None = None
    types: Types | None = None
    description: Description = None
    enabled: bool | None = None


class WebhookOut(BaseModel):
    id: str
    url: str
    types: list[str]
    description: str | None
    enabled: bool
    disabledReason: str | None
    createdAt: str
    updatedAt: str


class WebhookWithSecret(WebhookOut):
    secret: str


class WebhookPage(BaseModel):
    items: list[WebhookOut]
    nextCursor: str | None


class DeliveryOut(BaseModel):
    id: str
    type: str
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    lastStatusCode: int | None
    lastError: str | None
    nextAttemptAt: str | None
    createdAt: str
    deliveredAt: str | None


class DeliveryPage(BaseModel):
    items: list[DeliveryOut]
    nextCursor: str | None


class Accepted(BaseModel):
    status: Literal["queued"]


def delivery_to_api(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "type": row.type,
        "status": row.status,
        "attempts": row.attempts,
        "lastStatusCode": row.last_status_code,
        "lastError": row.last_error,
        "nextAttemptAt": isoformat(row.next_attempt_at),
        "createdAt": isoformat(row.created_at),
        "deliveredAt": isoformat(row.delivered_at),
    }


def _allow_private(request: Request) -> bool:
    return bool(request.app.state.settings.webhook_allow_private)


@router.post("/v1/webhooks", status_code=201, response_model=WebhookWithSecret)
def create_webhook(body: WebhookCreate, request: Request, _key: WriteKey, db: Db) -> Any:
    with db.write() as conn:
        return service.create_endpoint(
            conn, body.url, body.types, body.description, body.enabled, _allow_private(request)
        )


@router.get("/v1/webhooks", response_model=WebhookPage)
def list_webhooks(
    _key: ReadKey, db: Db, cursor: Cursor = None, limit: Limit = DEFAULT_LIMIT
) -> Any:
    after = decode_after(cursor)
    with db.read() as conn:
        rows = queries.list_endpoints(conn, after, limit)
    return page(rows, limit, lambda row: [row.id], service.endpoint_to_api)


@router.get("/v1/webhooks/{webhook_id}", response_model=WebhookOut)
def read_webhook(webhook_id: str, _key: ReadKey, db: Db) -> Any:
    with db.read() as conn:
        return service.endpoint_to_api(service.get_endpoint(conn, webhook_id))


@router.patch("/v1/webhooks/{webhook_id}", response_model=WebhookOut)
def update_webhook(
    webhook_id: str, body: WebhookUpdate, request: Request, _key: WriteKey, db: Db
) -> Any:
    with db.write() as conn:
        return service.update_endpoint(conn, webhook_id, body.sent(), _allow_private(request))


@router.delete("/v1/webhooks/{webhook_id}", status_code=204)
def delete_webhook(webhook_id: str, _key: WriteKey, db: Db) -> Response:
    with db.write() as conn:
        service.delete_endpoint(conn, webhook_id)
    return Response(status_code=204)


@router.post("/v1/webhooks/{webhook_id}/secret", response_model=WebhookWithSecret)
def rotate_webhook_secret(webhook_id: str, _key: WriteKey, db: Db) -> Any:
    with db.write() as conn:
        return service.rotate_secret(conn, webhook_id)


@router.get("/v1/webhooks/{webhook_id}/deliveries", response_model=DeliveryPage)
def list_deliveries(
    webhook_id: str,
    _key: ReadKey,
    db: Db,
    status: Literal["pending", "delivered", "failed"] | None = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Any:
    key = decode_cursor(cursor, 2)
    after = None
    if key is not None:
        if not all(isinstance(part, str) for part in key):
            raise validation_error("Invalid cursor", "cursor")
        try:
            after = (datetime.fromisoformat(key[0]), key[1])
        except ValueError:
            raise validation_error("Invalid cursor", "cursor") from None
    with db.read() as conn:
        service.get_endpoint(conn, webhook_id)
        rows = queries.list_deliveries(conn, webhook_id, after, limit, status)
    return page(rows, limit, lambda row: [row.created_at.isoformat(), row.id], delivery_to_api)


@router.post(
    "/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/retry",
    status_code=202,
    response_model=Accepted,
)
def retry_delivery(webhook_id: str, delivery_id: str, _key: WriteKey, db: Db) -> Any:
    with db.write() as conn:
        service.redeliver(conn, webhook_id, delivery_id)
    return {"status": "queued"}
