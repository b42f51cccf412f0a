"""Stored segment membership, re-evaluated per person inside every write that can change it.

Only the segments the write can affect are evaluated: an event of definition X cannot change
a rule that counts no X event. The same statement reads the oldest event each ``within``
window counts, so the person's due time (see ``windows``) stays exact. Whole-segment work
(builds and sweeps) lives in ``upkeep``, outside the write lock.
"""

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, bindparam, select

from audience import configuration
from audience.clock import utcnow
from audience.db import DriverStatement
from audience.events.standard import SEGMENT_ENTERED, SEGMENT_LEFT, record_person_event
from audience.observability import SEGMENT_EVALUATIONS
from audience.persons.queries import profile_ids
from audience.segments import queries, upkeep_queries
from audience.segments.compiler import PROFILE_IDS, compile_rule
from audience.segments.rules import Rule, event_properties_used, parse_rule
from audience.segments.windows import due_time, events_named, oldest_for_person, windows
from audience.tables import persons, segments

# A segment's version is its updated_at as the driver returns it (text on SQLite), only ever
# compared for equality.
Versions = tuple[tuple[str, Any], ...]
# Parsed rules by segment id, valid while the segment's version is unchanged.
_parsed: dict[str, tuple[Any, Rule]] = {}


@dataclass(frozen=True)
class PersonStatement:
    """One statement evaluating some saved segments for one person: a flag per segment in
    ``keys``, then the oldest counted event of each window of the ``windowed`` ones."""

    keys: tuple[str, ...]
    windowed: tuple[str, ...]
    statement: Select


# Built once per set of segment versions (and selection); time windows read the clock at
# execution, so SQLAlchemy's compiled-statement cache makes each run cheap.
_person_statements: dict[tuple[Versions, frozenset[str] | None], PersonStatement] = {}
# Which segments events of these definitions can affect, per set of versions.
_affected_by: dict[tuple[Versions, frozenset[str]], frozenset[str]] = {}

# Every write path runs this, mostly to learn there is nothing to do: on the driver directly.
# (Text on both backends: the same form as the preloaded configuration's.)
_VERSIONS = DriverStatement(
    "SELECT id, updated_at FROM segments ORDER BY id",
    "SELECT id, CAST(updated_at AS TEXT) FROM segments ORDER BY id",
)
configuration.part(
    "segments",
    "SELECT id, updated_at AS value FROM segments",
    "SELECT id, CAST(updated_at AS TEXT) AS value FROM segments",
)
# Built once: on the ingestion hot path building a statement costs more than running it.
# Sent, not awaited (``DriverStatement.send``): in a pipelined transaction the lock travels
# with the read that follows it.
_LOCK_PERSON = DriverStatement("SELECT id FROM persons WHERE id = ? FOR UPDATE")


def _versions(conn: Connection) -> Versions:
    rows = configuration.preloaded(conn, "segments")
    if rows is not None:
        return tuple(sorted(rows))
    return tuple((segment_id, at) for segment_id, at in _VERSIONS.run(conn))


def _rules(conn: Connection, versions: Versions) -> dict[str, Rule]:
    stale = [sid for sid, at in versions if _parsed.get(sid, (None,))[0] != at]
    if stale:
        # A rule read after its version is never older than it; a newer one is parsed again.
        version_of = dict(versions)
        definitions = queries.load_definitions(conn)
        query = select(segments.c.id, segments.c.rule)
        for row in conn.execute(query.where(segments.c.id.in_(stale))):
            if row.id in version_of:
                _parsed[row.id] = (version_of[row.id], parse_rule(row.rule, definitions))
    return {sid: _parsed[sid][1] for sid, _at in versions if sid in _parsed}


def saved_rules(conn: Connection) -> dict[str, Rule]:
    """Every saved segment's parsed rule, parsing only segments changed since last time."""
    return _rules(conn, _versions(conn))


def rule_of(conn: Connection, segment_id: str, version: Any, raw_rule: Any) -> Rule:
    """One segment's parsed rule, from the cache when its version is known."""
    cached = _parsed.get(segment_id)
    if cached is None or cached[0] != version:
        cached = (version, parse_rule(raw_rule, queries.load_definitions(conn)))
        _parsed[segment_id] = cached
    return cached[1]


def rules_for_write(conn: Connection, events: Collection[str] | None = None) -> dict[str, Rule]:
    """The saved rules a write can affect: all of them, or (``events``: the write only added
    events of these definitions) those counting such events. Empty when there is nothing to do."""
    versions = _versions(conn)
    if not versions:
        return {}
    rules = _rules(conn, versions)
    if events is None:
        return rules
    selected = _affected(conn, versions, frozenset(events))
    return {sid: rule for sid, rule in rules.items() if sid in selected}


def segments_using(conn: Connection, event_id: str, properties: set[str]) -> dict[str, set[str]]:
    """Saved segments whose rules filter on some of these properties of this event, with
    the properties each one uses."""
    found: dict[str, set[str]] = {}
    for segment_id, rule in saved_rules(conn).items():
        used = {name for event, name in event_properties_used(rule) if event == event_id}
        if used & properties:
            found[segment_id] = used & properties
    return found


def _affected(conn: Connection, versions: Versions, event_ids: frozenset[str]) -> frozenset[str]:
    key = (versions, event_ids)
    found = _affected_by.get(key)
    if found is None:
        rules = _rules(conn, versions)
        found = frozenset(sid for sid, rule in rules.items() if events_named(rule) & event_ids)
        if len(_affected_by) > 256:
            _affected_by.clear()
        _affected_by[key] = found
    return found


def _person_statement(
    conn: Connection, versions: Versions, selected: frozenset[str] | None
) -> PersonStatement:
    cached = _person_statements.get((versions, selected))
    if cached is None:
        rules = _rules(conn, versions)
        keys = tuple(sid for sid in rules if selected is None or sid in selected)
        windowed = tuple(sid for sid in keys if windows(rules[sid]))
        columns: list[Any] = [
            compile_rule(rules[sid], None, "single").label(f"c{i}") for i, sid in enumerate(keys)
        ]
        for sid in windowed:
            columns += [oldest_for_person(window) for window in windows(rules[sid])]
        statement = select(*(columns or [persons.c.id])).where(
            persons.c.id == bindparam("person_id")
        )
        if len(_person_statements) > 64:
            _person_statements.clear()
        cached = PersonStatement(keys, windowed, statement)
        _person_statements[(versions, selected)] = cached
    return cached


def record_changes(
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


def refresh_person(
    conn: Connection,
    person_id: str,
    now: datetime | None = None,
    events: Collection[str] | None = None,
) -> None:
    """Bring one person's stored memberships up to date, inside the caller's transaction.

    ``events``: when the write only added events of these definitions, only the segments
    counting such events are evaluated (None: anything may have changed)."""
    versions = _versions(conn)
    if not versions:
        return  # deleting a segment deletes its memberships, so there are none to leave
    selected = None if events is None else _affected(conn, versions, frozenset(events))
    if selected is not None and not selected:
        return
    now = now or utcnow()
    # Serialise concurrent refreshes of one person (PostgreSQL; SQLite writers are serial).
    if conn.dialect.name != "sqlite":
        _LOCK_PERSON.send(conn, (person_id,))
    plan = _person_statement(conn, versions, selected)
    SEGMENT_EVALUATIONS.labels("person").inc(len(plan.keys))
    params = {"person_id": person_id, PROFILE_IDS: profile_ids(conn, person_id)}
    row = conn.execute(plan.statement, params).first()
    if row is None:
        return
    matches = {sid for sid, value in zip(plan.keys, row, strict=False) if value}
    current = queries.memberships_of(conn, person_id) & set(plan.keys)
    record_changes(
        conn,
        {sid: [person_id] for sid in sorted(matches - current)},
        {sid: [person_id] for sid in sorted(current - matches)},
        now,
    )
    if plan.windowed:
        rules = _rules(conn, versions)
        oldest = list(row[len(plan.keys) :])
        due: dict[str, datetime | None] = {}
        for sid in plan.windowed:
            count = len(windows(rules[sid]))
            due[sid] = due_time(rules[sid], oldest[:count])
            oldest = oldest[count:]
        upkeep_queries.replace_person_due(conn, person_id, due)
