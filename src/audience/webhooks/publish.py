"""Publishing: the one place a change becomes webhook work.

:func:`publish_many` runs in the transaction of the change: one lookup of the enabled
endpoints per transaction (cached on it), and, only when some endpoint subscribes, one outbox
row for the whole set of messages. The worker fans that row out into deliveries
(:mod:`audience.webhooks.delivery`), so an ingested batch costs one small insert whatever the
number of endpoints, and nothing at all when no endpoint subscribes.
"""

import json
import secrets
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection

from audience import outbox
from audience.clock import isoformat, utcnow
from audience.webhooks import queries

TOPIC_FANOUT = "webhooks.fanout"
TOPIC_DELIVER = "webhooks.deliver"
PERSON_UPDATED = "person.updated"
PERSON_MERGED = "person.merged"
PERSON_DELETED = "person.deleted"
PERSON_TYPES = frozenset({PERSON_UPDATED, PERSON_MERGED, PERSON_DELETED})
ALL_TYPES = "*"
# Audit fields that are not attribute changes: they have webhook types of their own.
_NOT_UPDATES = frozenset({"merge", "deleted"})

Subscriptions = list[tuple[str, frozenset[str]]]


def subscriptions(conn: Connection) -> Subscriptions:
    """Enabled endpoints and their types, read once per transaction."""
    transaction = conn.get_transaction()
    cached = conn.info.get("webhook_subscriptions")
    if cached is not None and cached[0] is transaction:
        found: Subscriptions = cached[1]
        return found
    found = [(eid, frozenset(types)) for eid, types in queries.subscriptions(conn)]
    conn.info["webhook_subscriptions"] = (transaction, found)
    return found


def subscribers(subs: Subscriptions, type_: str) -> list[str]:
    return [eid for eid, types in subs if type_ in types or ALL_TYPES in types]


def wanted(conn: Connection, types: Iterable[str]) -> bool:
    """Whether any enabled endpoint subscribes to one of ``types`` (so a caller can skip
    preparing what only a webhook would need)."""
    subs = subscriptions(conn)
    return bool(subs) and any(subscribers(subs, type_) for type_ in set(types))


def publish(conn: Connection, type_: str, data: dict[str, Any]) -> None:
    """One trigger (``person.*``) in the caller's transaction."""
    publish_many(conn, [(type_, data)])


def publish_events(conn: Connection, events: Iterable[tuple[int, str]]) -> None:
    """Stored events, by (id, definitionId): only their ids travel, and the fan-out reads them
    (ingestion stays cheap: no per-event serialisation in the request)."""
    publish_many(conn, [], events)


def publish_many(
    conn: Connection,
    triggers: Sequence[tuple[str, dict[str, Any]]],
    events: Iterable[tuple[int, str]] = (),
) -> None:
    """The one enqueue point of the feature: every trigger some enabled endpoint subscribes
    to becomes a message (its id is the ``webhook-id`` of every attempt), all in one outbox
    row written in the caller's transaction."""
    subs = subscriptions(conn)
    if not subs:
        return
    endpoints: dict[str, list[str]] = {}

    def endpoints_of(type_: str) -> list[str]:
        if type_ not in endpoints:
            endpoints[type_] = subscribers(subs, type_)
        return endpoints[type_]

    messages = [
        {"n": n, "type": type_, "data": data}
        for n, (type_, data) in enumerate(triggers)
        if endpoints_of(type_)
    ]
    stored = [[pk, type_] for pk, type_ in events if endpoints_of(type_)]
    if messages or stored:
        _enqueue(conn, {type_: ids for type_, ids in endpoints.items() if ids}, messages, stored)


def publish_to(conn: Connection, endpoint_id: str, type_: str, data: dict[str, Any]) -> None:
    """One message to one endpoint whatever types it subscribes to (a flow's webhook step),
    signed, delivered and retried like every other."""
    _enqueue(conn, {type_: [endpoint_id]}, [{"n": 0, "type": type_, "data": data}], [])


def _enqueue(
    conn: Connection,
    endpoints: dict[str, list[str]],
    messages: list[dict[str, Any]],
    events: list[list[Any]],
) -> None:
    payload = {
        "timestamp": isoformat(utcnow()),
        "prefix": secrets.token_hex(8),
        "endpoints": endpoints,
        "messages": messages,
        "events": events,
    }
    outbox.enqueue(conn, TOPIC_FANOUT, payload)


def message_body(type_: str, timestamp: str, data: Any) -> str:
    """The JSON body of every attempt of one message (docs/webhooks.md)."""
    return json.dumps(
        {"type": type_, "timestamp": timestamp, "data": data}, separators=(",", ":"), default=str
    )


def publish_person_changes(conn: Connection, changes: Sequence[Mapping[str, Any]]) -> None:
    """``person.updated`` per person, from the audit rows (R9) of one unit of work."""
    if not changes or not subscriptions(conn):
        return
    by_person: dict[str, list[dict[str, Any]]] = {}
    for change in changes:
        if change["field"] not in _NOT_UPDATES:
            by_person.setdefault(change["person_id"], []).append(
                {
                    "field": change["field"],
                    "oldValue": change["old_value"],
                    "newValue": change["new_value"],
                }
            )
    publish_many(
        conn,
        [
            (PERSON_UPDATED, {"personId": person_id, "changes": person_changes})
            for person_id, person_changes in by_person.items()
        ],
    )


def publish_merge(
    conn: Connection, survivor_id: str, merged_person_id: str, merge_id: str | None
) -> None:
    """``person.merged``, with the journal's ``merge_id`` (docs/identity.md)."""
    publish(
        conn,
        PERSON_MERGED,
        {"survivorId": survivor_id, "mergedPersonId": merged_person_id, "mergeId": merge_id},
    )
