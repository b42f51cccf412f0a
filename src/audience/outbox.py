"""The transactional outbox: the one place background work is written down.

A feature that needs something done later (a webhook delivery, a flow timer, a push send, an
import) calls :func:`enqueue` with the connection of the transaction that makes the change.
The item commits or rolls back with the change: nothing is lost if the process dies right after
the commit, and nothing is done for a change that never happened. The worker
(:mod:`audience.worker`) claims due items, hands them to the handler of their topic, and
acknowledges them. Features never touch the ``outbox`` table themselves.

Claiming is a lease: it moves ``available_at`` ``lease`` seconds ahead and counts an attempt.
An item whose worker died comes due again when the lease runs out, so every item is handled
at least once; an item is deleted only once its handler has finished with it. On PostgreSQL
concurrent workers claim with ``FOR UPDATE SKIP LOCKED``; on SQLite the claim is one write
transaction, serialised by the database's writer lock.
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import Connection, bindparam, delete, func, insert, select, text, update

from audience.clock import utcnow
from audience.config import Settings
from audience.db import Database
from audience.tables import outbox


@dataclass(frozen=True)
class OutboxItem:
    id: int
    topic: str
    payload: dict[str, Any]
    # How many times the item has been claimed, this claim included.
    attempts: int
    created_at: datetime


@dataclass(frozen=True)
class WorkerContext:
    """What a worker handler (audience.worker) may use: the database, the settings and one
    shared HTTP client."""

    db: Database
    settings: Settings
    http: httpx.AsyncClient


def enqueue(
    conn: Connection, topic: str, payload: Mapping[str, Any], at: datetime | None = None
) -> None:
    """Write down one piece of work, due at ``at`` (default: now), in ``conn``'s transaction."""
    enqueue_many(conn, topic, [payload], at)


def enqueue_many(
    conn: Connection,
    topic: str,
    payloads: Iterable[Mapping[str, Any]],
    at: datetime | None = None,
) -> None:
    now = utcnow()
    rows = [
        {
            "topic": topic,
            "payload": dict(payload),
            "available_at": at or now,
            "attempts": 0,
            "created_at": now,
        }
        for payload in payloads
    ]
    if rows:
        conn.execute(insert(outbox), rows)


_CLAIM_POSTGRESQL = text(
    """
    UPDATE outbox SET available_at = :lease_end, attempts = attempts + 1
    WHERE id IN (
        SELECT id FROM outbox WHERE available_at <= :now AND topic = ANY(:topics)
        ORDER BY available_at LIMIT :limit FOR UPDATE SKIP LOCKED
    )
    RETURNING id, topic, payload, attempts, created_at
    """
)


def claim(
    db: Database, topics: Sequence[str], limit: int, lease_seconds: float
) -> list[OutboxItem]:
    """Lease up to ``limit`` due items of ``topics``, oldest due first."""
    now = utcnow()
    lease_end = now + timedelta(seconds=lease_seconds)
    if db.is_sqlite:
        # A read first: WAL readers take no lock, so an idle poll never queues for the writer.
        with db.read() as conn:
            if not _any_due(conn, topics, now):
                return []
        with db.write() as conn:
            ids = (
                conn.execute(
                    select(outbox.c.id)
                    .where(outbox.c.available_at <= now, outbox.c.topic.in_(topics))
                    .order_by(outbox.c.available_at)
                    .limit(limit)
                )
                .scalars()
                .all()
            )
            if not ids:
                return []
            rows = conn.execute(
                update(outbox)
                .where(outbox.c.id.in_(ids))
                .values(available_at=lease_end, attempts=outbox.c.attempts + 1)
                .returning(
                    outbox.c.id,
                    outbox.c.topic,
                    outbox.c.payload,
                    outbox.c.attempts,
                    outbox.c.created_at,
                )
            ).all()
    else:
        with db.write() as conn:
            rows = conn.execute(
                _CLAIM_POSTGRESQL,
                {"lease_end": lease_end, "now": now, "topics": list(topics), "limit": limit},
            ).all()
    return sorted((OutboxItem(*row) for row in rows), key=lambda item: item.id)


def _any_due(conn: Connection, topics: Sequence[str], now: datetime) -> bool:
    found = conn.execute(
        select(outbox.c.id).where(outbox.c.available_at <= now, outbox.c.topic.in_(topics)).limit(1)
    ).first()
    return found is not None


def next_due(db: Database, topics: Sequence[str]) -> datetime | None:
    """When the next item of ``topics`` comes due (leased ones included)."""
    with db.read() as conn:
        return conn.execute(
            select(func.min(outbox.c.available_at)).where(outbox.c.topic.in_(list(topics)))
        ).scalar()


def acknowledge(db: Database, done: Sequence[int], retry_at: Mapping[int, datetime]) -> None:
    """Delete the items that are finished and reschedule those to try again later."""
    if not done and not retry_at:
        return
    with db.write() as conn:
        if done:
            conn.execute(delete(outbox).where(outbox.c.id.in_(list(done))))
        if retry_at:
            conn.execute(
                update(outbox)
                .where(outbox.c.id == bindparam("item_id"))
                .values(available_at=bindparam("due")),
                [{"item_id": item_id, "due": due} for item_id, due in retry_at.items()],
            )


def pending_by_topic(conn: Connection) -> dict[str, tuple[int, datetime | None]]:
    """Per topic: how many items wait (due or not) and when the oldest was written."""
    rows = conn.execute(
        select(outbox.c.topic, func.count(), func.min(outbox.c.created_at)).group_by(outbox.c.topic)
    ).all()
    return {topic: (int(count), oldest) for topic, count, oldest in rows}


def pending_stats(conn: Connection) -> tuple[int, datetime | None]:
    """How many items wait (due or not) and when the oldest of them was written."""
    count, oldest = conn.execute(
        select(func.count(), func.min(outbox.c.created_at)).select_from(outbox)
    ).one()
    return int(count), oldest
