"""Stored segment membership: re-evaluated per person on every write that can change it, and
in bulk by the periodic sweep (time windows move even when nothing is written)."""

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, bindparam, select

from audience.clock import utcnow
from audience.db import Database, DriverStatement
from audience.events.standard import SEGMENT_ENTERED, SEGMENT_LEFT, record_person_event
from audience.observability import SEGMENT_EVALUATIONS
from audience.segments import queries
from audience.segments.compiler import compile_rule
from audience.segments.rules import Rule, event_properties_used, parse_rule
from audience.tables import persons, segments

# A segment's version is its updated_at as the driver returns it (text on SQLite), only ever
# compared for equality.
Versions = tuple[tuple[str, Any], ...]
# Parsed rules by segment id, valid while the segment's version is unchanged.
_parsed: dict[str, tuple[Any, Rule]] = {}
# One statement evaluating every saved segment for one person, per set of segment versions;
# its time windows read the clock at execution, so it is built once and SQLAlchemy's
# compiled-statement cache makes each run cheap.
_person_statements: dict[Versions, tuple[list[str], Select]] = {}


# Every write path runs this, mostly to learn there is nothing to do: on the driver directly.
_VERSIONS = DriverStatement("SELECT id, updated_at FROM segments ORDER BY id")
# Built once: on the ingestion hot path building a statement costs more than running it.
_LOCK_PERSON = select(persons.c.id).where(persons.c.id == bindparam("person_id")).with_for_update()


def _versions(conn: Connection) -> Versions:
    return tuple((segment_id, at) for segment_id, at in _VERSIONS.run(conn))


def _rules(conn: Connection, versions: Versions) -> dict[str, Rule]:
    stale = [sid for sid, at in versions if _parsed.get(sid, (None,))[0] != at]
    if stale:
        # A rule read after its version is never older than it; a newer one is parsed again.
        version_of = dict(versions)
        definitions = queries.load_definitions(conn)
        query = select(segments.c.id, segments.c.rule)
        for row in conn.execute(query.where(segments.c.id.in_(stale))):
            _parsed[row.id] = (version_of[row.id], parse_rule(row.rule, definitions))
    return {sid: _parsed[sid][1] for sid, _at in versions}


def saved_rules(conn: Connection) -> dict[str, Rule]:
    """Every saved segment's parsed rule, parsing only segments changed since last time."""
    return _rules(conn, _versions(conn))


def segments_using(conn: Connection, event_id: str, properties: set[str]) -> dict[str, set[str]]:
    """Saved segments whose rules filter on some of these properties of this event, with
    the properties each one uses."""
    found: dict[str, set[str]] = {}
    for segment_id, rule in saved_rules(conn).items():
        used = {name for event, name in event_properties_used(rule) if event == event_id}
        if used & properties:
            found[segment_id] = used & properties
    return found


def _person_statement(conn: Connection, versions: Versions) -> tuple[list[str], Select]:
    cached = _person_statements.get(versions)
    if cached is None:
        rules = _rules(conn, versions)
        conditions = {sid: compile_rule(rule, None, "single") for sid, rule in rules.items()}
        if len(_person_statements) > 64:
            _person_statements.clear()
        cached = queries.person_flags_statement(conditions)
        _person_statements[versions] = cached
    return cached


def _record(
    conn: Connection, entered: dict[str, list[str]], left: dict[str, list[str]], now: datetime
) -> None:
    """Apply membership changes; events only for the rows this transaction really changed, so
    a concurrent sweep or refresh of the same person never records an entry twice."""
    for segment_id, person_ids in entered.items():
        added = queries.add_members(conn, segment_id, person_ids, now)
        record_person_event(conn, SEGMENT_ENTERED, added, now, {"segmentId": segment_id})
    for segment_id, person_ids in left.items():
        removed = queries.remove_members(conn, segment_id, person_ids)
        record_person_event(conn, SEGMENT_LEFT, removed, now, {"segmentId": segment_id})


def refresh_person(conn: Connection, person_id: str, now: datetime | None = None) -> None:
    """Bring one person's stored memberships up to date, inside the caller's transaction."""
    versions = _versions(conn)
    if not versions:
        return  # deleting a segment deletes its memberships, so there are none to leave
    now = now or utcnow()
    # Serialise concurrent refreshes of one person (PostgreSQL; SQLite writers are serial).
    conn.execute(_LOCK_PERSON, {"person_id": person_id})
    current = queries.memberships_of(conn, person_id)
    keys, statement = _person_statement(conn, versions)
    SEGMENT_EVALUATIONS.labels("person").inc(len(keys))
    matches = queries.run_person_flags(conn, keys, statement, person_id)
    _record(
        conn,
        {sid: [person_id] for sid in sorted(matches - current)},
        {sid: [person_id] for sid in sorted(current - matches)},
        now,
    )


def sweep_segment(
    conn: Connection, segment_id: str, rule: Rule, now: datetime | None = None
) -> None:
    """Re-evaluate one segment for everybody and store the difference."""
    now = now or utcnow()
    condition = compile_rule(rule, now, "bulk")
    SEGMENT_EVALUATIONS.labels("sweep").inc()
    entered = queries.entering(conn, segment_id, condition)
    left = queries.leaving(conn, segment_id, condition)
    _record(conn, {segment_id: entered} if entered else {}, {segment_id: left} if left else {}, now)


def sweep_all(db: Database) -> int:
    """Re-evaluate every saved segment, one transaction each; answers how many were swept."""
    with db.read() as conn:
        rules = saved_rules(conn)
    for segment_id, rule in rules.items():
        with db.write() as conn:
            if queries.find(conn, segment_id) is not None:
                sweep_segment(conn, segment_id, rule)
    return len(rules)
