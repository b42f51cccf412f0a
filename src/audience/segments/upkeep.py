"""Whole-segment upkeep that never holds the write lock for long: builds, sweeps.

The protocol: a read transaction (a snapshot; WAL readers never block the SQLite writer)
evaluates the rule for everybody and finds the *candidates*, persons whose stored membership
differs from the rule. Small write transactions then re-check only those candidates against
the data as it is at that moment (bounded: ``CHUNK`` persons each) and store the difference.
Persons who were not candidates stay right: every write that changes a person re-evaluates
that person's segments in its own transaction (``membership.refresh_person``).

Entry points, all plain functions over a ``Database`` (the background worker runs them):
``build_pending`` finishes segments saved with a new rule (resumable: the state is the
``status`` column), ``sweep_due`` re-evaluates only persons whose time windows moved,
``sweep_all`` re-evaluates everything.
"""

import logging
import time
from collections import defaultdict
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection, text

from audience.clock import utcnow
from audience.db import Database
from audience.observability import SEGMENT_EVALUATIONS
from audience.segments import membership, queries, upkeep_queries
from audience.segments.compiler import PROFILE_IDS, compile_rule
from audience.segments.rules import Rule
from audience.segments.windows import due_time, next_whole_sweep, oldest_by_owner, windows

log = logging.getLogger("audience.segments")

CHUNK = 500  # persons re-checked per write transaction
DUE_CHUNK = 2000  # due times written per write transaction
DUE_BATCH = 5000  # due persons read per pass of the incremental sweep
BUILDING, READY = "building", "ready"


@dataclass
class SweepStats:
    """What a sweep or build did (for logs, metrics and the benchmark)."""

    segments: int = 0
    checked: int = 0
    entered: int = 0
    left: int = 0
    retried: int = 0
    seconds: float = 0.0
    built: list[str] = field(default_factory=list)
    complete: bool = True

    def add(self, other: "SweepStats") -> None:
        self.segments += other.segments
        self.checked += other.checked
        self.entered += other.entered
        self.left += other.left
        self.retried += other.retried
        self.built += other.built
        self.complete = self.complete and other.complete


@contextmanager
def snapshot(db: Database) -> Iterator[Connection]:
    """A read transaction whose statements all see one snapshot (PostgreSQL's default
    isolation gives each statement its own; SQLite's read transactions are snapshots)."""
    with db.engine.connect() as conn:
        if not db.is_sqlite:
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            yield conn


def due_times(
    conn: Connection, rule: Rule, now: datetime, profiles: list[str] | None
) -> dict[str, datetime]:
    """Due times of every person with a counted event in one of the rule's windows (or only
    of the persons whose profile ids are ``profiles``)."""
    count = len(windows(rule))
    oldest: dict[str, list[datetime | None]] = defaultdict(lambda: [None] * count)
    for i, window in enumerate(windows(rule)):
        query = oldest_by_owner(window, now, subset=profiles is not None)
        for owner, at in conn.execute(query, {PROFILE_IDS: profiles} if profiles else {}):
            oldest[owner][i] = at
    due = {person: due_time(rule, times) for person, times in oldest.items()}
    return {person: at for person, at in due.items() if at is not None}


def apply_chunk(db: Database, segment_id: str, person_ids: list[str]) -> SweepStats:
    """Re-evaluate ``person_ids`` (≤ ``CHUNK``) for the segment's current rule in one short
    write transaction; store membership changes and exact due times. Persons another
    transaction holds right now are answered in ``retried`` (the caller tries them again)."""
    stats = SweepStats(checked=len(person_ids))
    with db.write() as conn:
        row = upkeep_queries.lock_segment(conn, segment_id)
        if row is None:
            return stats
        rule = membership.rule_of(conn, segment_id, row.updated_at, row.rule)
        locked = upkeep_queries.lock_persons(conn, person_ids)
        wanted = [p for p in person_ids if p in locked]
        gone = [p for p in person_ids if p not in locked]
        if gone:  # deleted or held by another transaction
            held = set(gone) & upkeep_queries.existing_persons(conn, gone)
            stats.retried = len(held)
            stale = [p for p in gone if p not in held]
            queries.remove_members(conn, segment_id, stale)
            upkeep_queries.replace_due(conn, segment_id, stale, {})
        if not wanted:
            return stats
        now = utcnow()
        profiles = upkeep_queries.profile_ids_of(conn, wanted)
        SEGMENT_EVALUATIONS.labels("chunk").inc()
        matches = upkeep_queries.matching_among(
            conn, compile_rule(rule, now, "subset"), wanted, profiles
        )
        stored = upkeep_queries.members_among(conn, segment_id, wanted)
        entered = sorted(matches - stored)
        left = sorted(stored - matches)
        membership.record_changes(
            conn, {segment_id: entered} if entered else {}, {segment_id: left} if left else {}, now
        )
        stats.entered, stats.left = len(entered), len(left)
        if windows(rule):
            due = due_times(conn, rule, now, profiles)
            upkeep_queries.replace_due(conn, segment_id, wanted, due)
    return stats


def refresh_persons(
    conn: Connection,
    person_ids: Collection[str],
    now: datetime | None = None,
    events: Collection[str] | None = None,
) -> None:
    """``membership.refresh_person`` for many persons at once, inside the caller's transaction
    (a bulk import's batch): one statement per segment for ``CHUNK`` persons instead of one
    per person, then the same membership changes, entry/exit events and due times. The caller
    holds the persons (locked, or created in its transaction). ``events`` as in
    ``refresh_person``."""
    rules = membership.rules_for_write(conn, events)
    if not rules or not person_ids:
        return
    now = now or utcnow()
    ids = sorted(set(person_ids))
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        profiles = upkeep_queries.profile_ids_of(conn, chunk)
        entered: dict[str, list[str]] = {}
        left: dict[str, list[str]] = {}
        for segment_id, rule in rules.items():
            SEGMENT_EVALUATIONS.labels("chunk").inc()
            condition = compile_rule(rule, now, "subset")
            matches = upkeep_queries.matching_among(conn, condition, chunk, profiles)
            stored = upkeep_queries.members_among(conn, segment_id, chunk)
            if matches - stored:
                entered[segment_id] = sorted(matches - stored)
            if stored - matches:
                left[segment_id] = sorted(stored - matches)
            if windows(rule):
                due = due_times(conn, rule, now, profiles)
                upkeep_queries.replace_due(conn, segment_id, chunk, due)
        membership.record_changes(conn, entered, left, now)


def apply_all(
    db: Database, segment_id: str, person_ids: list[str], deadline: float | None = None
) -> SweepStats:
    """``apply_chunk`` over any number of persons, retrying those another writer held; stops
    early (``complete`` False) at ``deadline`` (a ``time.monotonic()`` value)."""
    stats = SweepStats()
    pending = sorted(set(person_ids))
    for attempt in range(50):
        retry: list[str] = []
        for start in range(0, len(pending), CHUNK):
            if deadline is not None and time.monotonic() > deadline:
                stats.complete = False
                return stats
            done = apply_chunk(db, segment_id, pending[start : start + CHUNK])
            stats.add(done)
            if done.retried:
                chunk = pending[start : start + CHUNK]
                with db.read() as conn:
                    retry += sorted(upkeep_queries.existing_persons(conn, chunk))
        if not retry:
            break
        pending = retry
        time.sleep(0.01 * (attempt + 1))
    return stats


def resweep(
    db: Database, segment_id: str, deadline: float | None = None
) -> tuple[SweepStats, object | None]:
    """Re-evaluate one segment for everybody: candidates from a snapshot, then re-checked in
    small write transactions; due times of every person with a counted event refreshed.
    Answers the stats and the rule (as stored) the evaluation used, None if gone."""
    stats = SweepStats(segments=1)
    now = utcnow()
    with snapshot(db) as conn:
        row = queries.find(conn, segment_id)
        if row is None:
            return stats, None
        rule = membership.rule_of(conn, segment_id, row.updated_at, row.rule)
        condition = compile_rule(rule, now, "bulk")
        SEGMENT_EVALUATIONS.labels("sweep").inc()
        candidates = queries.entering(conn, segment_id, condition)
        candidates += queries.leaving(conn, segment_id, condition)
        due = due_times(conn, rule, now, None)
        if due:  # only what is missing or later than it should be
            stored = upkeep_queries.due_of_segment(conn, segment_id)
            due = {p: at for p, at in due.items() if p not in stored or stored[p] > at}
    items = sorted(due.items())
    for start in range(0, len(items), DUE_CHUNK):
        with db.write() as conn:
            upkeep_queries.lower_due(conn, segment_id, dict(items[start : start + DUE_CHUNK]))
    stats.add(apply_all(db, segment_id, candidates, deadline))
    if not stats.complete or row.status != READY:  # a build marks it ready itself
        return stats, row.rule
    with db.write() as conn:
        current = upkeep_queries.lock_segment(conn, segment_id)
        if current is not None and current.rule == row.rule and current.status == READY:
            upkeep_queries.set_upkeep(conn, segment_id, READY, next_whole_sweep(rule, now))
    return stats, row.rule


_RUNNING_WRITERS = text(
    "SELECT backend_xid::text FROM pg_stat_activity WHERE datname = current_database() "
    "AND backend_xid IS NOT NULL AND pid <> pg_backend_pid()"
)


def _wait_for_older_writers(db: Database, timeout: float = 30.0) -> None:
    """PostgreSQL: wait until every write transaction running now on this database has ended,
    so none still applies a segment's previous rule when a build takes its snapshot (SQLite
    writers are serial)."""
    if db.is_sqlite:
        return
    deadline = time.monotonic() + timeout
    with db.engine.connect() as conn:
        older = set(conn.execute(_RUNNING_WRITERS).scalars())
        conn.commit()
        while older and time.monotonic() < deadline:
            time.sleep(0.005)
            older &= set(conn.execute(_RUNNING_WRITERS).scalars())
            conn.commit()
    if older:
        log.warning("segment build: %d older transactions still running", len(older))


def build_segment(db: Database, segment_id: str, seconds: float | None = None) -> bool:
    """Bring a segment saved with a new rule to its complete membership; answers whether it is
    ready (False: gone, out of ``seconds``, or its rule changed meanwhile and a later build
    takes over). Resumable: a build left half-done is finished by the next one."""
    deadline = None if seconds is None else time.monotonic() + seconds
    _wait_for_older_writers(db)
    stats, built_rule = resweep(db, segment_id, deadline)
    if built_rule is None or not stats.complete:
        return False
    with db.write() as conn:
        row = upkeep_queries.lock_segment(conn, segment_id)
        if row is None or row.rule != built_rule:
            return False
        rule = membership.rule_of(conn, segment_id, row.updated_at, row.rule)
        upkeep_queries.set_upkeep(conn, segment_id, READY, next_whole_sweep(rule, utcnow()))
    log.info("segment %s built: %d entered, %d left", segment_id, stats.entered, stats.left)
    return True


def build_pending(db: Database) -> SweepStats:
    """Finish every segment still "building" (after a save whose build did not finish in
    the request, or a restart in the middle of one): the database says what is left."""
    stats = SweepStats()
    with db.read() as conn:
        pending = upkeep_queries.segment_ids(conn, BUILDING)
    for segment_id in pending:
        if build_segment(db, segment_id):
            stats.built.append(segment_id)
    return stats


def sweep_due(db: Database, now: datetime | None = None) -> SweepStats:
    """The incremental sweep: re-evaluate only persons whose due time has passed, and whole
    segments whose ``within_last`` window moved. Its cost follows the changes."""
    started = time.perf_counter()
    now = now or utcnow()
    stats = SweepStats()
    seen: set[tuple[str, str]] = set()
    while True:
        with db.read() as conn:
            due = [
                (row.segment_id, row.person_id)
                for row in upkeep_queries.due_persons(conn, now, DUE_BATCH)
            ]
        fresh = [pair for pair in due if pair not in seen]
        if not fresh:
            break
        seen.update(fresh)
        by_segment: dict[str, list[str]] = defaultdict(list)
        for segment_id, person_id in fresh:
            by_segment[segment_id].append(person_id)
        for segment_id, person_ids in by_segment.items():
            stats.add(apply_all(db, segment_id, person_ids))
        if len(due) < DUE_BATCH:
            break
    with db.read() as conn:
        whole = upkeep_queries.segments_due(conn, now)
    for segment_id in whole:
        stats.add(resweep(db, segment_id)[0])
    stats.seconds = time.perf_counter() - started
    return stats


def sweep_all(db: Database) -> int:
    """Re-evaluate every saved segment for everybody (building ones are built); answers how
    many segments were swept. A safety net: ``sweep_due`` keeps membership current alone."""
    with db.read() as conn:
        ids = upkeep_queries.segment_ids(conn, READY)
    for segment_id in ids:
        resweep(db, segment_id)
    return len(ids) + len(build_pending(db).built)
