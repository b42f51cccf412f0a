"""SQL of push: credentials, messages, deliveries."""

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, bindparam, delete, func, insert, select, update

from audience.clock import utcnow
from audience.tables import (
    applications,
    installations,
    persons,
    push_credentials,
    push_deliveries,
    push_messages,
    segment_members,
)

PENDING = "pending"
# Handed to a provider by a worker right now; a row left so by a dead worker is taken again
# once it is older than the chunk's staleness limit.
SENDING = "sending"


def upsert_credentials(
    conn: Connection, app_id: str, provider: str, settings: dict[str, Any], secret: str
) -> None:
    key = (push_credentials.c.application_id == app_id) & (push_credentials.c.provider == provider)
    values = {"settings": settings, "secret": secret, "updated_at": utcnow()}
    if conn.execute(update(push_credentials).where(key).values(**values)).rowcount == 0:
        conn.execute(
            insert(push_credentials).values(application_id=app_id, provider=provider, **values)
        )


def delete_credentials(conn: Connection, app_id: str, provider: str) -> None:
    conn.execute(
        delete(push_credentials).where(
            push_credentials.c.application_id == app_id, push_credentials.c.provider == provider
        )
    )


def credentials_of(conn: Connection, app_id: str) -> list[Row]:
    return list(
        conn.execute(
            select(push_credentials)
            .where(push_credentials.c.application_id == app_id)
            .order_by(push_credentials.c.provider)
        )
    )


def insert_message(conn: Connection, **values: Any) -> None:
    conn.execute(insert(push_messages).values(**values))


def find_message(conn: Connection, message_id: str, for_update: bool = False) -> Row | None:
    query = (
        select(push_messages, applications.c.application_code)
        .join(applications, applications.c.id == push_messages.c.application_id)
        .where(push_messages.c.id == message_id)
    )
    if for_update:
        query = query.with_for_update(of=push_messages)
    return conn.execute(query).first()


def message_status(conn: Connection, message_id: str) -> str | None:
    return conn.execute(
        select(push_messages.c.status).where(push_messages.c.id == message_id)
    ).scalar()


def set_message(conn: Connection, message_id: str, **values: Any) -> None:
    conn.execute(
        update(push_messages)
        .where(push_messages.c.id == message_id)
        .values(**values, updated_at=utcnow())
    )


def list_messages(conn: Connection, before: tuple[datetime, str] | None, limit: int) -> list[Row]:
    """Newest first, keyset-paginated by (createdAt, id)."""
    query = (
        select(push_messages, applications.c.application_code)
        .join(applications, applications.c.id == push_messages.c.application_id)
        .order_by(push_messages.c.created_at.desc(), push_messages.c.id.desc())
        .limit(limit + 1)
    )
    if before is not None:
        at, last_id = before
        query = query.where(
            (push_messages.c.created_at < at)
            | ((push_messages.c.created_at == at) & (push_messages.c.id < last_id))
        )
    return list(conn.execute(query))


def delivery_counts(conn: Connection, message_id: str) -> dict[str, int]:
    rows = conn.execute(
        select(push_deliveries.c.status, func.count())
        .where(push_deliveries.c.message_id == message_id)
        .group_by(push_deliveries.c.status)
    )
    return {status: int(count) for status, count in rows}


def insert_deliveries(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        conn.execute(insert(push_deliveries), list(rows))


def list_deliveries(
    conn: Connection, message_id: str, after_id: int | None, limit: int
) -> list[Row]:
    query = (
        select(push_deliveries)
        .where(push_deliveries.c.message_id == message_id)
        .order_by(push_deliveries.c.id)
        .limit(limit + 1)
    )
    if after_id is not None:
        query = query.where(push_deliveries.c.id > after_id)
    return list(conn.execute(query))


def take_chunk(
    conn: Connection, message_id: str, chunk: int, stale_before: datetime
) -> tuple[list[Row], datetime | None]:
    """Mark a chunk's pending deliveries ``sending`` (and those left ``sending`` by a worker
    that died, older than ``stale_before``) and answer them; also when the chunk's other
    ``sending`` rows — another worker's, still in flight — were last touched."""
    in_chunk = (push_deliveries.c.message_id == message_id) & (push_deliveries.c.chunk == chunk)
    query = select(push_deliveries).where(
        in_chunk,
        (push_deliveries.c.status == PENDING)
        | ((push_deliveries.c.status == SENDING) & (push_deliveries.c.updated_at < stale_before)),
    )
    rows = list(conn.execute(query.with_for_update()))
    now = utcnow()
    if rows:
        conn.execute(
            update(push_deliveries)
            .where(push_deliveries.c.id.in_([row.id for row in rows]))
            .values(status=SENDING, updated_at=now)
        )
    busy = conn.execute(
        select(func.max(push_deliveries.c.updated_at)).where(
            in_chunk,
            push_deliveries.c.status == SENDING,
            push_deliveries.c.updated_at >= stale_before,
            push_deliveries.c.updated_at < now,
        )
    ).scalar()
    return rows, busy


def record_results(conn: Connection, results: Iterable[dict[str, Any]]) -> None:
    """Set status, error and attempts of deliveries, keyed by ``delivery_id``."""
    rows = list(results)
    if rows:
        conn.execute(
            update(push_deliveries)
            .where(
                push_deliveries.c.id == bindparam("delivery_id"),
                push_deliveries.c.status == SENDING,  # a canceled or re-taken row stays so
            )
            .values(
                status=bindparam("new_status"),
                error=bindparam("new_error"),
                attempts=bindparam("new_attempts"),
                updated_at=utcnow(),
            ),
            rows,
        )


def cancel_pending(conn: Connection, message_id: str) -> None:
    conn.execute(
        update(push_deliveries)
        .where(push_deliveries.c.message_id == message_id, push_deliveries.c.status == PENDING)
        .values(status="canceled", updated_at=utcnow())
    )


def has_pending(conn: Connection, message_id: str) -> bool:
    found = conn.execute(
        select(push_deliveries.c.id)
        .where(
            push_deliveries.c.message_id == message_id,
            push_deliveries.c.status.in_([PENDING, SENDING]),
        )
        .limit(1)
    ).first()
    return found is not None


def persons_by_id(conn: Connection, ids: Iterable[str]) -> dict[str, Row]:
    wanted = list(set(ids))
    if not wanted:
        return {}
    rows = conn.execute(select(persons).where(persons.c.id.in_(wanted)))
    return {row.id: row for row in rows}


def installations_by_id(conn: Connection, ids: Iterable[str]) -> dict[str, Row]:
    wanted = list(set(ids))
    if not wanted:
        return {}
    rows = conn.execute(
        select(installations).where(installations.c.push_registration_id.in_(wanted))
    )
    return {row.push_registration_id: row for row in rows}


def live_installation(conn: Connection, push_registration_id: str) -> Row | None:
    return conn.execute(
        select(installations.c.push_registration_id, installations.c.uninstalled_at).where(
            installations.c.push_registration_id == push_registration_id
        )
    ).first()


def segment_audience_count(conn: Connection, segment_id: str, application_id: str) -> int:
    """Distinct tokens a message to the segment would be sent to now (the console's figure)."""
    return int(
        conn.execute(
            select(func.count(func.distinct(installations.c.push_service_token)))
            .select_from(
                segment_members.join(
                    installations, installations.c.person_id == segment_members.c.person_id
                )
            )
            .where(
                segment_members.c.segment_id == segment_id,
                installations.c.application_id == application_id,
                installations.c.uninstalled_at.is_(None),
                installations.c.push_registration_enabled.is_(True),
                installations.c.push_service_token.is_not(None),
                installations.c.push_service_token != "",
            )
        ).scalar()
        or 0
    )
