"""``/v1/apps``: create (answers the JWT secret once), list, read, update."""

from typing import Any

from fastapi import APIRouter

from audience.apps import queries, service
from audience.apps.schemas import Application, ApplicationWithSecret
from audience.auth.dependencies import AdminKey, Db, ReadKey
from audience.models import ApiModel, Name, Page, answers
from audience.pagination import DEFAULT_LIMIT, Cursor, Limit, decode_after, page

router = APIRouter(prefix="/v1/apps", tags=["apps"])


class AppCreate(ApiModel):
    name: Name
    require_user_jwt: bool = False


class AppUpdate(ApiModel):
    name: Name | None = None
    require_user_jwt: bool | None = None


@router.post("", **answers(ApplicationWithSecret, 201))
def create_app(body: AppCreate, _key: AdminKey, db: Db) -> dict[str, Any]:
    with db.write() as conn:
        return service.create_app(conn, body.name, body.require_user_jwt)


@router.get("", **answers(Page[Application]))
def list_apps(
    _key: ReadKey, db: Db, cursor: Cursor = None, limit: Limit = DEFAULT_LIMIT
) -> dict[str, Any]:
    after = decode_after(cursor)
    with db.read() as conn:
        rows = queries.list_apps(conn, after, limit)
    return page(rows, limit, lambda row: [row.id], service.app_to_api)


@router.get("/{app_id}", **answers(Application))
def read_app(app_id: str, _key: ReadKey, db: Db) -> dict[str, Any]:
    with db.read() as conn:
        return service.app_to_api(service.get_app(conn, app_id))


@router.patch("/{app_id}", **answers(Application))
def update_app(app_id: str, body: AppUpdate, _key: AdminKey, db: Db) -> dict[str, Any]:
    changes = {k: v for k, v in body.sent().items() if v is not None}
    with db.write() as conn:
        return service.update_app(conn, app_id, changes)


@router.post("/{app_id}/jwt-secret", **answers(ApplicationWithSecret))
def rotate_jwt_secret(app_id: str, _key: AdminKey, db: Db) -> dict[str, Any]:
    """Replace the JWT secret; tokens signed with the old one stop working at once."""
    with db.write() as conn:
        return service.rotate_jwt_secret(conn, app_id)
