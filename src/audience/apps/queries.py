"""SQL for applications."""

from sqlalchemy import Connection, Row, insert, select, update

from audience.db import DriverStatement
from audience.tables import applications


def find_by_id(conn: Connection, app_id: str) -> Row | None:
    return conn.execute(select(applications).where(applications.c.id == app_id)).first()


# A mobile call's own application, read in the call's transaction (on the driver: hot path).
_PRINCIPAL_BY_CODE = DriverStatement(
    "SELECT id, application_code, require_user_jwt, jwt_secret FROM applications "
    "WHERE application_code = ?"
)


def principal_by_code(conn: Connection, code: str) -> tuple[str, str, bool, str] | None:
    """(id, code, requireUserJwt, JWT secret) of the application with this code."""
    found = _PRINCIPAL_BY_CODE.run(conn, (code,)).fetchone()
    return None if found is None else (found[0], found[1], bool(found[2]), found[3])


def find_by_code(conn: Connection, code: str) -> Row | None:
    query = select(applications).where(applications.c.application_code == code)
    return conn.execute(query).first()


def insert_app(conn: Connection, **values: object) -> None:
    conn.execute(insert(applications).values(**values))


def update_app(conn: Connection, app_id: str, **values: object) -> None:
    conn.execute(update(applications).where(applications.c.id == app_id).values(**values))


def list_apps(conn: Connection, after_id: str | None, limit: int) -> list[Row]:
    query = select(applications).order_by(applications.c.id).limit(limit + 1)
    if after_id is not None:
        query = query.where(applications.c.id > after_id)
    return list(conn.execute(query))
