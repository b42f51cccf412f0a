"""SQL for API keys."""

from datetime import datetime

from sqlalchemy import Connection, Row, insert, select, update

from audience.tables import api_keys


def find_by_hash(conn: Connection, key_hash: str) -> Row | None:
    return conn.execute(select(api_keys).where(api_keys.c.key_hash == key_hash)).first()


def find_by_id(conn: Connection, key_id: str) -> Row | None:
    return conn.execute(select(api_keys).where(api_keys.c.id == key_id)).first()


def find_by_name(conn: Connection, name: str) -> Row | None:
    return conn.execute(select(api_keys).where(api_keys.c.name == name)).first()


def insert_key(conn: Connection, **values: object) -> None:
    conn.execute(insert(api_keys).values(**values))


def list_keys(conn: Connection, after_id: str | None, limit: int) -> list[Row]:
    query = select(api_keys).order_by(api_keys.c.id).limit(limit + 1)
    if after_id is not None:
        query = query.where(api_keys.c.id > after_id)
    return list(conn.execute(query))


def revoke(conn: Connection, key_id: str, at: datetime) -> None:
    conn.execute(
        update(api_keys)
        .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
        .values(revoked_at=at)
    )
