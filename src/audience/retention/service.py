"""Event retention (docs/decisions.md): ``AUDIENCE_EVENT_RETENTION_DAYS`` (0 keeps events forever).

A periodic job of the worker. On PostgreSQL it keeps monthly partitions ready ahead, drops
whole partitions past the retention, and deletes the remaining older rows of the month that
straddles the cut-off; on SQLite it deletes older rows. Deletes go in bounded batches, one
short transaction each, so ingestion never waits behind one long delete.
"""

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from fastapi import Request

from audience.clock import utcnow
from audience.config import Settings
from audience.db import Database
from audience.errors import validation_error
from audience.retention import partitions, queries

log = logging.getLogger("audience.retention")
DELETE_BATCH = 5000


@dataclass
class RetentionRun:
    created_partitions: list[str] = field(default_factory=list)
    dropped_partitions: list[str] = field(default_factory=list)
    deleted_rows: int = 0


def cutoff(settings: Settings, now: datetime | None = None) -> datetime | None:
    days = settings.event_retention_days
    return (now or utcnow()) - timedelta(days=days) if days > 0 else None


def job_interval(settings: Settings) -> float:
    """On PostgreSQL the job also creates partitions ahead, so it runs even without retention."""
    if settings.event_retention_days <= 0 and settings.database_url.startswith("sqlite"):
        return 0
    return settings.retention_job_seconds


def run_retention(db: Database, settings: Settings, now: datetime | None = None) -> RetentionRun:
    now = now or utcnow()
    run = RetentionRun()
    oldest_kept = cutoff(settings, now)
    if not db.is_sqlite:
        with db.write() as conn:
            ahead = partitions.months_between(
                now, now + timedelta(days=31 * partitions.MONTHS_AHEAD)
            )
            created = partitions.ensure_months(conn, ahead)
            run.created_partitions = [partitions.partition_name(m) for m in created]
        if oldest_kept is not None:
            with db.write() as conn:
                run.dropped_partitions = partitions.drop_before(conn, oldest_kept)
    if oldest_kept is not None:
        while True:
            with db.write() as conn:
                deleted = queries.delete_events_before(conn, oldest_kept, DELETE_BATCH)
                queries.delete_launches_before(conn, oldest_kept)
            run.deleted_rows += deleted
            if deleted < DELETE_BATCH:
                break
    if run.dropped_partitions or run.deleted_rows:
        log.info(
            "retention: dropped %s, deleted %d events", run.dropped_partitions, run.deleted_rows
        )
    return run


def check_rule_windows(rule: Any, retention_days: int, path: str = "rule") -> None:
    """Refuse an event window longer than the retention: it would count events that are gone,
    and silently answer less than the rule says."""
    if retention_days <= 0:
        return
    if isinstance(rule, dict):
        within = rule.get("within")
        if (
            "event" in rule
            and isinstance(within, dict)
            and isinstance(within.get("days"), int)
            and within["days"] > retention_days
        ):
            raise validation_error(
                f"{path}.within.days: {within['days']} days is longer than the event retention "
                f"({retention_days} days, AUDIENCE_EVENT_RETENTION_DAYS)",
                f"{path}.within.days",
            )
        for key, value in rule.items():
            check_rule_windows(value, retention_days, f"{path}.{key}")
    elif isinstance(rule, list):
        for index, item in enumerate(rule):
            check_rule_windows(item, retention_days, f"{path}.{index}")


async def refuse_windows_past_retention(request: Request) -> None:
    """A router dependency for endpoints taking a segment rule in their body (segments,
    preview, resolve): the rule's event windows must fit in the retention."""
    days = request.app.state.settings.event_retention_days
    if days <= 0 or request.method not in ("POST", "PUT", "PATCH"):
        return
    try:
        body = await request.json()  # cached: the endpoint's own parsing reads it again
    except ValueError:
        return  # the endpoint answers its own VALIDATION_ERROR
    if isinstance(body, dict) and "rule" in body:
        check_rule_windows(body["rule"], days)
