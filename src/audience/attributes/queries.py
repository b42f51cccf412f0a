"""SQL for attribute definitions."""

from collections.abc import Iterable

from sqlalchemy import Connection, Row, insert, select, update

from audience.tables import attribute_definitions as defs


def find(conn: Connection, name: str) -> Row | None:
    return conn.execute(select(defs).where(defs.c.name == name)).first()


def find_many(conn: Connection, names: Iterable[str], scope: str) -> dict[str, Row]:
    names = list(names)
    if not names:
        return {}
    query = select(defs).where(defs.c.name.in_(names), defs.c.scope == scope)
    return {row.name: row for row in conn.execute(query)}


def insert_definition(conn: Connection, **values: object) -> None:
    conn.execute(insert(defs).values(**values))


def update_definition(conn: Connection, name: str, **values: object) -> None:
    conn.execute(update(defs).where(defs.c.name == name).values(**values))


def list_definitions(
    conn: Connection, scope: str | None, after_name: str | None, limit: int
) -> list[Row]:
    query = select(defs).order_by(defs.c.name).limit(limit + 1)
    if scope is not None:
        query = query.where(defs.c.scope == scope)
    if after_name is not None:
        query = query.where(defs.c.name > after_name)
    return list(conn.execute(query))
