"""What a rule depends on, and when its answer can change with time alone.

Two kinds of time dependence:
- an event condition with ``within`` counts events newer than "now - N days": for one person
  the count can only drop when the oldest counted event leaves the window (new events are
  writes, re-evaluated at once). Each person gets a *due time*, ``oldest + N days``, and the
  incremental sweep re-evaluates only persons whose due time has passed.
- ``within_last`` on a date moves at each UTC midnight, on a datetime continuously: such a
  rule's segment is re-evaluated whole (at the next midnight, or at every sweep).
"""

from collections.abc import Iterator
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Select, bindparam, func, select

from audience.segments.compiler import PROFILE_IDS, event_filters
from audience.segments.rules import (
    AllOf,
    AnyOf,
    AttributeCondition,
    Comparison,
    EventCondition,
    InstallationCondition,
    NotOf,
    Rule,
)
from audience.tables import events, person_aliases

# The owner of an event: the survivor when the event's person was merged into another.
EVENT_OWNER = func.coalesce(person_aliases.c.person_id, events.c.person_id)


def leaves(rule: Rule) -> Iterator[Rule]:
    """Every condition of the rule (installation conditions and their insides included)."""
    if isinstance(rule, AllOf | AnyOf):
        for part in rule.rules:
            yield from leaves(part)
    elif isinstance(rule, NotOf):
        yield from leaves(rule.rule)
    elif isinstance(rule, InstallationCondition):
        yield rule
        yield from leaves(rule.rule)
    else:
        yield rule


def events_named(rule: Rule) -> frozenset[str]:
    """The event definitions the rule counts: only events of these can change its answer."""
    return frozenset(leaf.event for leaf in leaves(rule) if isinstance(leaf, EventCondition))


def windows(rule: Rule) -> list[EventCondition]:
    """Event conditions counting over a ``within`` window (per-person due times)."""
    return [
        leaf
        for leaf in leaves(rule)
        if isinstance(leaf, EventCondition) and leaf.within_days is not None
    ]


def _moving_tests(rule: Rule) -> list[Comparison]:
    tests: list[Comparison] = []
    for leaf in leaves(rule):
        if isinstance(leaf, AttributeCondition):
            tests.append(leaf.test)
        elif isinstance(leaf, EventCondition):
            tests += [where.test for where in leaf.where]
    return [test for test in tests if test.op == "within_last"]


def next_whole_sweep(rule: Rule, now: datetime) -> datetime | None:
    """When the whole segment must next be re-evaluated because a ``within_last`` window
    moved: the next UTC midnight for dates, ``now`` (every sweep) for datetimes."""
    tests = _moving_tests(rule)
    if not tests:
        return None
    if any(test.type != "date" for test in tests):
        return now
    return datetime.combine(now.date() + timedelta(days=1), datetime.min.time())


def due_time(rule: Rule, oldest: list[datetime | None]) -> datetime | None:
    """A person's due time from the oldest counted event of each window (``windows`` order):
    the first moment one of them leaves its window."""
    times = [
        at + timedelta(days=window.within_days or 0)
        for window, at in zip(windows(rule), oldest, strict=True)
        if at is not None
    ]
    return min(times) if times else None


def oldest_for_person(window: EventCondition) -> ColumnElement[datetime]:
    """The oldest event the window counts for the person whose profile ids are bound as
    ``profile_ids`` (the "single" shape: read through the per-person index)."""
    return (
        select(func.min(events.c.occurred_at))
        .where(
            events.c.person_id.in_(bindparam(PROFILE_IDS, expanding=True)),
            *event_filters(window, None),
        )
        .scalar_subquery()
    )


def oldest_by_owner(window: EventCondition, now: datetime, subset: bool) -> Select:
    """(owner, oldest counted event) for every person with one, or (``subset``) only for the
    bound ``profile_ids``."""
    filters = event_filters(window, now)
    if subset:
        filters.append(events.c.person_id.in_(bindparam(PROFILE_IDS, expanding=True)))
    return (
        select(EVENT_OWNER.label("owner"), func.min(events.c.occurred_at).label("oldest"))
        .select_from(
            events.outerjoin(person_aliases, person_aliases.c.alias_id == events.c.person_id)
        )
        .where(*filters)
        .group_by(EVENT_OWNER)
    )
