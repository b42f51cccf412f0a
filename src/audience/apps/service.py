"""Application rules: a random code and JWT secret at creation; the secret is shown only then."""

from typing import Any

from sqlalchemy import Connection, Row

from audience.apps import queries
from audience.clock import isoformat, utcnow
from audience.errors import NotFound
from audience.ids import new_application_code, new_id, new_jwt_secret


def app_to_api(row: Row) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "applicationCode": row.application_code,
        "requireUserJwt": row.require_user_jwt,
        "createdAt": isoformat(row.created_at),
        "updatedAt": isoformat(row.updated_at),
    }


def get_app(conn: Connection, app_id: str) -> Row:
    row = queries.find_by_id(conn, app_id)
    if row is None:
        raise NotFound("No such application")
    return row


def create_app(conn: Connection, name: str, require_user_jwt: bool = False) -> dict[str, Any]:
    now = utcnow()
    app_id = new_id()
    secret = new_jwt_secret()
    queries.insert_app(
        conn,
        id=app_id,
        application_code=new_application_code(),
        name=name,
        require_user_jwt=require_user_jwt,
        jwt_secret=secret,
        created_at=now,
        updated_at=now,
    )
    return app_to_api(get_app(conn, app_id)) | {"jwtSecret": secret}


def update_app(conn: Connection, app_id: str, changes: dict[str, Any]) -> dict[str, Any]:
    get_app(conn, app_id)
    if changes:
        queries.update_app(conn, app_id, **changes, updated_at=utcnow())
    return app_to_api(get_app(conn, app_id))


def rotate_jwt_secret(conn: Connection, app_id: str) -> dict[str, Any]:
    get_app(conn, app_id)
    secret = new_jwt_secret()
    queries.update_app(conn, app_id, jwt_secret=secret, updated_at=utcnow())
    return app_to_api(get_app(conn, app_id)) | {"jwtSecret": secret}
