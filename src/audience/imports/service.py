"""Bulk imports (docs/decisions.md): the job, its steps in the worker, and what the API shows of it.

The uploaded file is stored first (``import_chunks``); the worker then applies it in batches
of ``import_batch_size`` rows, one transaction each, which also moves the job's ``position``
and writes the batch's error lines. A worker that dies mid-batch leaves nothing of that batch
(its transaction never committed), and the outbox hands the job to a worker again, which
resumes at ``position``. A step works for a bounded time and then enqueues its own
continuation in the transaction of its last batch, so a large file never outlives a lease.
Segments are re-evaluated once per batch, set-based, for the persons the batch touched.
"""

import itertools
import logging
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import anyio
from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from audience import ids
from audience.clock import isoformat, utcnow
from audience.config import Settings
from audience.db import Database
from audience.errors import ApiError
from audience.imports import event_checks, person_batch, queries
from audience.imports import events as event_rows
from audience.imports import persons as person_rows
from audience.imports.batches import Batch, api_errors
from audience.imports.event_batches import EventBatches
from audience.imports.person_batches import PersonBatches
from audience.imports.person_checks import CheckedPersons
from audience.imports.reader import UnreadableFile, raw_rows
from audience.outbox import enqueue
from audience.persons.audit import Audit
from audience.retention import partitions
from audience.segments.service import refresh_persons

log = logging.getLogger("audience.imports")
TOPIC = "imports.run"
CHUNK_BYTES = 1 << 20


def import_not_found(import_id: str) -> ApiError:
    return ApiError(404, "IMPORT_NOT_FOUND", f"No import '{import_id}'")


def create_import(conn: Connection, kind: str, file_format: str, dry_run: bool, source: str) -> str:
    import_id = ids.new_id()
    now = utcnow()
    queries.insert_import(
        conn,
        id=import_id,
        kind=kind,
        format=file_format,
        dry_run=dry_run,
        status="running",
        uploaded=False,
        source=source,
        rows=0,
        created=0,
        updated=0,
        failed=0,
        position=0,
        created_at=now,
        updated_at=now,
    )
    return import_id


def finish_upload(conn: Connection, import_id: str) -> None:
    """The file is whole: the job is handed to the worker in the same transaction."""
    queries.update_import(conn, import_id, uploaded=True, updated_at=utcnow())
    enqueue(conn, TOPIC, {"importId": import_id})


def fail(db: Database, import_id: str, reason: str) -> None:
    with db.write() as conn:
        queries.update_import(conn, import_id, status="failed", error=reason, updated_at=utcnow())
        queries.delete_chunks(conn, import_id)


def import_to_api(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "kind": row.kind,
        "format": row.format,
        "dryRun": bool(row.dry_run),
        "status": row.status,
        "rows": int(row.rows),
        "created": int(row.created),
        "updated": int(row.updated),
        "failed": int(row.failed),
        "error": row.error,
        "createdAt": isoformat(row.created_at),
        "updatedAt": isoformat(row.updated_at),
    }


def error_to_api(row: Any) -> dict[str, Any]:
    return {"row": int(row.row), "field": row.field, "code": row.code, "message": row.message}


def run_step(db: Database, settings: Settings, import_id: str, budget_seconds: float) -> bool:
    """Apply batches for about ``budget_seconds``; answers whether the job is finished."""
    with db.read() as conn:
        job = queries.find(conn, import_id)
    if job is None or job.status != "running" or not job.uploaded:
        return True
    deadline = time.monotonic() + budget_seconds
    batches = _batches(db, settings, job)
    position = int(job.position)
    kept = False
    try:
        while True:
            with person_batch.paused_gc():  # read and applied with the collector off
                batch = next(batches, None)
                if batch is None:
                    _finish(db, import_id, position)
                    return True
                if not _apply_batch(db, job, position, batch, batches):
                    return True  # another worker moved the job on: it owns the rest
            position += len(batch.rows)
            if time.monotonic() >= deadline:
                _keep_batches(import_id, position, batches)
                kept = True
                with db.write() as conn:
                    enqueue(conn, TOPIC, {"importId": import_id})
                return False
    except UnreadableFile as exc:
        fail(db, import_id, f"the file cannot be read after row {position}: {exc}")
        return True
    finally:
        if not kept:
            _close(batches)  # its helper, if any, let go now rather than when collected


Batches = EventBatches | PersonBatches

# The batches a step stopped with, by job: the continuation, when this process runs it, reads
# on from there instead of parsing the file again up to ``position`` (every step re-reading
# all the rows before it made a large import quadratic), with the batch read ahead (and its
# helper's check). In another process, or after a restart, the job's
# ``position`` is the truth: the file is read again and skipped to it.
_readers: dict[str, tuple[int, Batches]] = {}
_readers_lock = threading.Lock()
_MAX_READERS = 8


def _batches(db: Database, settings: Settings, job: Any) -> Batches:
    with _readers_lock:
        kept = _readers.pop(job.id, None)
    if kept is not None:
        if kept[0] == job.position:
            return kept[1]
        _close(kept[1])
    size, is_csv = settings.import_batch_size, job.format == "csv"
    raw = itertools.islice(raw_rows(db, job.id, job.format), job.position, None)
    if job.kind == "events":
        return EventBatches(db, raw, size, is_csv, settings.import_helper_process)
    size = min(size, PERSONS_BATCH_CAP)
    return PersonBatches(db, raw, size, is_csv, settings.import_helper_process)


# A persons batch's rows in flight. A person row holds ~10 KB of Python objects until its
# batch commits (its checked fields, its state, nine audit entries; and the next batch's,
# checked in the helper and sent over), an event ~1 KB: at 5,000 persons the server's RSS
# peaked at 198 MB (310 MB with the helper), at 2,000 at 155-160 MB, for ~5-8 % fewer rows
# a second (docs/decisions.md, "Batches of 5000 rows").
PERSONS_BATCH_CAP = 2000


def _keep_batches(import_id: str, position: int, batches: Batches) -> None:
    with _readers_lock:
        while len(_readers) >= _MAX_READERS:
            _close(_readers.pop(next(iter(_readers)))[1])
        _readers[import_id] = (position, batches)


def _close(batches: Batches) -> None:
    batches.close()


# Rows an import stores before PostgreSQL's statistics are refreshed at its end: until
# autovacuum gets to the tables, the planner may think them nearly empty (an export of
# 200,000 freshly seeded persons ran a nested-loop page plan for minutes; docs/decisions.md).
ANALYZE_AFTER_ROWS = 10_000


def _finish(db: Database, import_id: str, position: int) -> None:
    with db.write() as conn:
        job = queries.find(conn, import_id, for_update=True)
        if job is None or job.status != "running" or job.position != position:
            return
        queries.update_import(conn, import_id, status="done", updated_at=utcnow())
        queries.delete_chunks(conn, import_id)
    stored = int(job.created) + int(job.updated)
    if not db.is_sqlite and not job.dry_run and stored >= ANALYZE_AFTER_ROWS:
        with db.write() as conn:
            queries.analyze(conn, job.kind)


def _apply_batch(db: Database, job: Any, position: int, batch: Batch, batches: Batches) -> bool:
    checked = batches.checked(batch)
    if isinstance(checked, event_checks.CheckedBatch) and not db.is_sqlite and checked.months:
        # Monthly partitions first, in their own transaction, so the rows do not land in the
        # default one.
        with db.write() as conn:
            partitions.ensure_months(conn, checked.months)
    with db.write() as conn:
        current = queries.find(conn, job.id, for_update=True)
        if current is None or current.status != "running" or current.position != position:
            return False
        now = utcnow()
        audit = Audit(f"import:{job.id}", now)
        savepoint = conn.begin_nested() if job.dry_run else None
        if isinstance(batches, PersonBatches):
            assert isinstance(checked, CheckedPersons)
            checked = batches.confirm(conn, batch, checked)
            counts, errors, touched = _persons_batch(conn, checked, audit)
        else:
            assert isinstance(checked, event_checks.CheckedBatch)
            checked = batches.confirm(conn, batch, checked)
            counts, errors, touched = _events_batch(conn, checked, now)
            refresh_persons(conn, touched, now, events=checked.definition_ids)
        if savepoint is not None:
            savepoint.rollback()
        queries.insert_errors(
            conn,
            [
                {
                    "import_id": job.id,
                    "row": number,
                    "field": error.field,
                    "code": error.code,
                    "message": error.message,
                }
                for number, error in sorted(errors.items())
            ],
        )
        queries.add_progress(
            conn, job.id, len(batch.rows), counts["created"], counts["updated"], len(errors), now
        )
    return True


def _persons_batch(
    conn: Connection, checked: CheckedPersons, audit: Audit
) -> tuple[dict[str, int], dict[int, ApiError], set[str]]:
    """The batch set-based (``person_batch``); if a concurrent writer took one of its
    identities meanwhile (a unique key refuses the bulk insert), the batch is applied again
    row by row, so only that row fails."""
    errors = api_errors(checked.errors)
    candidates = checked.candidates
    savepoint = conn.begin_nested()
    try:
        outcome = person_batch.apply_batch(conn, candidates, checked.types, audit.source, audit.at)
    except IntegrityError:
        savepoint.rollback()
        log.info("import batch met a concurrent writer: applying it row by row")
        return _persons_rows(conn, candidates, errors, audit)
    savepoint.commit()
    errors.update(outcome.errors)
    return outcome.counts, errors, outcome.touched


def _persons_rows(
    conn: Connection,
    candidates: list[person_batch.Candidate],
    errors: dict[int, ApiError],
    audit: Audit,
) -> tuple[dict[str, int], dict[int, ApiError], set[str]]:
    counts = {"created": 0, "updated": 0}
    touched: set[str] = set()
    for candidate in candidates:
        savepoint = conn.begin_nested()
        try:
            outcome, person_id = person_rows.apply_row(conn, dict(candidate.fields), audit)
            audit.flush(conn)
        except (ApiError, IntegrityError) as exc:
            savepoint.rollback()
            audit.rows = []
            errors[candidate.number] = (
                exc
                if isinstance(exc, ApiError)
                else ApiError(
                    409, "USER_MERGE_INTERRUPTED", "An identity belongs to another person"
                )
            )
            continue
        savepoint.commit()
        if outcome != "unchanged":
            counts[outcome] += 1
            touched.add(person_id)
    refresh_persons(conn, touched, audit.at)
    return counts, errors, touched


def _events_batch(
    conn: Connection, checked: event_checks.CheckedBatch, now: datetime
) -> tuple[dict[str, int], dict[int, ApiError], set[str]]:
    errors = api_errors(checked.errors)
    found, missing = event_rows.resolve_persons(conn, checked.events)
    errors.update(missing)
    stored = event_rows.store(conn, found, now)
    touched = {person_id for person_id, _row in stored}
    return {"created": len(stored), "updated": 0}, errors, touched


def chunks_of(stream: Iterator[bytes]) -> Iterator[bytes]:
    """Re-cut a byte stream into pieces of about CHUNK_BYTES."""
    buffer = bytearray()
    for piece in stream:
        buffer += piece
        if len(buffer) >= CHUNK_BYTES:
            yield bytes(buffer)
            buffer.clear()
    if buffer:
        yield bytes(buffer)


async def handle(ctx: Any, items: list[Any]) -> dict[int, datetime]:
    """Outbox handler of ``imports.run``: one step of each job (its continuation, if any, is
    enqueued by the step itself). ``ctx`` is the worker's WorkerContext (not imported here:
    the worker module imports this one)."""
    budget = max(1.0, min(20.0, ctx.settings.outbox_lease_seconds / 3))
    for item in items:
        await anyio.to_thread.run_sync(
            run_step, ctx.db, ctx.settings, item.payload["importId"], budget
        )
    return {}
