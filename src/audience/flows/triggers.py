"""Starting runs: every stored event is offered to the enabled flows, in the transaction that
stores it, so a run starts if and only if the event commits.

Loop guard: the actions of a flow step run with that flow in the *chain* (a context variable);
events they cause cannot start a flow already in the chain, so a step can never start its own
flow for the person again, directly or through other flows.
"""

import contextlib
from collections.abc import Iterable, Iterator, Mapping
from contextvars import ContextVar
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import Connection

from audience import outbox
from audience.attributes.values import parse_datetime
from audience.clock import isoformat, utcnow
from audience.flows import queries
from audience.flows.definition import Trigger, parse_entry, parse_trigger
from audience.ids import new_id
from audience.observability import FLOW_RUNS
from audience.segments.compiler import compile_rule
from audience.segments.queries import load_definitions, person_flags
from audience.segments.rules import Comparison, Rule

STEP_TOPIC = "flow.step"

_chain: ContextVar[tuple[str, ...]] = ContextVar("flow_chain", default=())


@contextlib.contextmanager
def acting_for(chain: tuple[str, ...]) -> Iterator[None]:
    """Mark what runs inside as a flow step's doing (see the loop guard above)."""
    token = _chain.set(chain)
    try:
        yield
    finally:
        _chain.reset(token)


# Parsed triggers of enabled flows, by (flow id, version): definitions never change in place.
class ParsedFlow(NamedTuple):
    id: str
    version: int
    definition: dict[str, Any]
    trigger: Trigger
    entry: Rule | None


_parsed: dict[tuple[str, int], ParsedFlow] = {}


def capture(conn: Connection, stored: Iterable[Mapping[str, Any]]) -> None:
    """Offer stored events (rows with person_id, definition_id, properties, occurred_at) to
    every enabled flow. One small query when no flow is enabled."""
    enabled = queries.enabled_flow_versions(conn)
    if not enabled:
        return
    flows = _parsed_flows(conn, enabled)
    chain = _chain.get()
    now = utcnow()
    for event in stored:
        for flow in flows:
            if flow.id not in chain and _matches(flow.trigger, event, now):
                start_run(conn, flow, flow.entry, event, chain, now)


def _parsed_flows(conn: Connection, enabled: list[tuple[str, int]]) -> list[ParsedFlow]:
    missing = [key for key in enabled if key not in _parsed]
    if missing:
        definitions = load_definitions(conn)
        if len(_parsed) > 1000:
            _parsed.clear()
        for row in queries.flow_definitions(conn, [flow_id for flow_id, _ in missing]):
            body = row.definition
            _parsed[(row.id, row.version)] = ParsedFlow(
                row.id,
                row.version,
                body,
                parse_trigger(body["trigger"], definitions),
                parse_entry(body.get("entry"), definitions),
            )
    # A flow changed between the two reads (PostgreSQL, read committed) is left out of this
    # one transaction rather than run with a definition of another version.
    return [_parsed[key] for key in enabled if key in _parsed]


def _matches(trigger: Trigger, event: Mapping[str, Any], now: datetime) -> bool:
    if event["definition_id"] != trigger.event:
        return False
    properties = event.get("properties") or {}
    if trigger.segment_id is not None:
        return bool(properties.get("segmentId") == trigger.segment_id)
    assert trigger.condition is not None
    return all(
        passes(where.test, properties.get(where.property), now) for where in trigger.condition.where
    )


def start_run(
    conn: Connection,
    flow: Any,
    entry: Rule | None,
    event: Mapping[str, Any],
    chain: tuple[str, ...],
    now: datetime,
) -> str | None:
    """Start a run of ``flow`` for the event's person if entry and reentry allow; answers the
    run id, or None."""
    person_id = event["person_id"]
    if entry is not None and not person_matches(conn, entry, person_id, now):
        return None
    if not _reentry_allows(conn, flow, person_id, now):
        return None
    run_id = new_id()
    occurred_at = event.get("occurred_at")
    trigger = {
        "event": event["definition_id"],
        "properties": dict(event.get("properties") or {}),
        "occurredAt": isoformat(occurred_at) if isinstance(occurred_at, datetime) else occurred_at,
        "chain": list(chain),
    }
    inserted = queries.insert_run_if_none_active(
        conn,
        {
            "id": run_id,
            "flow_id": flow.id,
            "version": flow.version,
            "person_id": person_id,
            "status": "active",
            "step": "0",
            "active": True,
            "trigger": trigger,
            "log": [{"at": isoformat(now), "step": None, "type": "start", "detail": "triggered"}],
            "started_at": now,
            "updated_at": now,
        },
    )
    if not inserted:
        return None
    FLOW_RUNS.labels("started").inc()
    outbox.enqueue(conn, STEP_TOPIC, {"runId": run_id, "step": "0"})
    return run_id


def _reentry_allows(conn: Connection, flow: Any, person_id: str, now: datetime) -> bool:
    policy = flow.definition.get("reentry", "once")
    last = queries.last_run_started(conn, flow.id, person_id)
    if last is None or policy == "always":
        return True  # a still-active run is refused by the one-active-run constraint
    if policy == "once":
        return False
    return bool(now - last >= timedelta(days=policy["afterDays"]))


def person_matches(conn: Connection, rule: Rule, person_id: str, now: datetime) -> bool:
    """A §8 rule for one person now, with the compiler that keeps segments."""
    return bool(person_flags(conn, person_id, {"rule": compile_rule(rule, now, "single")}))


def passes(test: Comparison, actual: Any, now: datetime) -> bool:
    """One property filter on one event's value, as the segment compiler judges it in SQL."""
    op = test.op
    if op == "exists":
        return actual is not None
    if op == "not_exists":
        return actual is None
    if op == "ne":
        return actual is None or not _equal(test, actual, test.value)
    if op == "not_in":
        return actual is None or not any(_equal(test, actual, value) for value in test.value)
    if actual is None:
        return False
    if op == "eq":
        return _equal(test, actual, test.value)
    if op == "in":
        return any(_equal(test, actual, value) for value in test.value)
    if op in ("contains", "starts_with"):
        if not isinstance(actual, str):
            return False
        text, wanted = actual.lower(), str(test.value).lower()
        return wanted in text if op == "contains" else text.startswith(wanted)
    try:
        left, right = _comparable(test, actual), _comparable(test, test.value)
        if op == "within_last":
            assert test.days is not None
            low = _comparable(test, _moment(test, now - timedelta(days=test.days)))
            high = _comparable(test, _moment(test, now))
            return bool(low <= left <= high)
        if op in ("gt", "after"):
            return bool(left > right)
        if op == "gte":
            return bool(left >= right)
        if op in ("lt", "before"):
            return bool(left < right)
        if op == "lte":
            return bool(left <= right)
    except (TypeError, ValueError):
        return False
    raise ValueError(f"unknown operator {op}")


def _equal(test: Comparison, actual: Any, value: Any) -> bool:
    try:
        return bool(_comparable(test, actual) == _comparable(test, value))
    except (TypeError, ValueError):
        return False


def _comparable(test: Comparison, value: Any) -> Any:
    if test.type == "datetime":
        return parse_datetime(value) if isinstance(value, str) else value
    if test.type == "number" and isinstance(value, bool):
        raise TypeError("a boolean is not a number")
    return value


def _moment(test: Comparison, at: datetime) -> Any:
    return at.date().isoformat() if test.type == "date" else isoformat(at)
