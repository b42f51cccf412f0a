"""SQL for applications."""

from sqlalchemy import Connection, Row, insert, select, update

from audience.tables import applications


def find_by_id(conn: Connection, app_id: str) -> Row | None:
    return conn.execute(select(applications).where(applications.c.id == app_id)).first()


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
