"""``/v1/api-keys``: create (the key is returned once), list, read, revoke. Admin scope."""

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Response
from pydantic import Field

from audience.auth import queries, service
from audience.auth.dependencies import AdminKey, Db
from audience.auth.schemas import ApiKey, CreatedApiKey
from audience.errors import NotFound
from audience.models import ApiModel, Name, Page, answers
from audience.pagination import DEFAULT_LIMIT, Cursor, Limit, decode_after, page

router = APIRouter(prefix="/v1/api-keys", tags=["api-keys"])


class ApiKeyCreate(ApiModel):
    name: Name
    scopes: Annotated[list[Literal["read", "write", "admin"]], Field(min_length=1, max_length=3)]


@router.post("", **answers(CreatedApiKey, 201))
def create_api_key(body: ApiKeyCreate, _key: AdminKey, db: Db) -> dict[str, Any]:
    with db.write() as conn:
        return service.create_key(conn, body.name, list(body.scopes))


@router.get("", **answers(Page[ApiKey]))
def list_api_keys(
    _key: AdminKey, db: Db, cursor: Cursor = None, limit: Limit = DEFAULT_LIMIT
) -> dict[str, Any]:
    after = decode_after(cursor)
    with db.read() as conn:
        rows = queries.list_keys(conn, after, limit)
    return page(rows, limit, lambda row: [row.id], service.key_to_api)


@router.get("/{key_id}", **answers(ApiKey))
def read_api_key(key_id: str, _key: AdminKey, db: Db) -> dict[str, Any]:
    with db.read() as conn:
        row = queries.find_by_id(conn, key_id)
    if row is None:
        raise NotFound("No such API key")
    return service.key_to_api(row)


@router.delete("/{key_id}", status_code=204)
def revoke_api_key(key_id: str, _key: AdminKey, db: Db) -> Response:
    with db.write() as conn:
        service.revoke_key(conn, key_id)
    return Response(status_code=204)
