"""SQL of imports: the job row, the uploaded chunks and the per-row errors."""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, delete, insert, select, update

from audience.tables import import_chunks, import_errors, imports


def insert_import(conn: Connection, **values: Any) -> None:
    conn.execute(insert(imports).values(**values))


def find(conn: Connection, import_id: str, for_update: bool = False) -> Row | None:
    query = select(imports).where(imports.c.id == import_id)
    if for_update:
        query = query.with_for_update()
    return conn.execute(query).first()


def update_import(conn: Connection, import_id: str, **values: Any) -> None:
    conn.execute(update(imports).where(imports.c.id == import_id).values(**values))


def add_progress(
    conn: Connection,
    import_id: str,
    rows: int,
    created: int,
    updated: int,
    failed: int,
    at: datetime,
) -> None:
    conn.execute(
        update(imports)
        .where(imports.c.id == import_id)
        .values(
            rows=imports.c.rows + rows,
            position=imports.c.position + rows,
            created=imports.c.created + created,
            updated=imports.c.updated + updated,
            failed=imports.c.failed + failed,
            updated_at=at,
        )
    )


def insert_chunk(conn: Connection, import_id: str, seq: int, data: bytes) -> None:
    conn.execute(insert(import_chunks).values(import_id=import_id, seq=seq, data=data))


def chunk(conn: Connection, import_id: str, seq: int) -> bytes | None:
    query = select(import_chunks.c.data).where(
        import_chunks.c.import_id == import_id, import_chunks.c.seq == seq
    )
    data = conn.execute(query).scalar()
    return bytes(data) if data is not None else None


def delete_chunks(conn: Connection, import_id: str) -> None:
    conn.execute(delete(import_chunks).where(import_chunks.c.import_id == import_id))


def insert_errors(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        conn.execute(insert(import_errors), list(rows))


def list_errors(conn: Connection, import_id: str, after_row: int | None, limit: int) -> list[Row]:
    query = (
        select(import_errors)
        .where(import_errors.c.import_id == import_id)
        .order_by(import_errors.c.row)
        .limit(limit + 1)
    )
    if after_row is not None:
        query = query.where(import_errors.c.row > after_row)
    return list(conn.execute(query))
