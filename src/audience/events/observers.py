"""Features that act on stored events (flows start runs; webhooks deliver) without the events
feature knowing them: every place that stores events calls :func:`notify` in the storing
transaction, and the worker module (``audience.worker``, the one list of background work)
registers the observers. So what they write commits or rolls back with the events."""

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection

# Called with the storing transaction and the stored rows (dicts with person_id,
# push_registration_id, definition_id, occurred_at, received_at, properties, event_id).
EventObserver = Callable[[Connection, Sequence[Mapping[str, Any]]], None]

_observers: list[EventObserver] = []


def observe(observer: EventObserver) -> None:
    if observer not in _observers:
        _observers.append(observer)


def notify(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    if rows:
        for observer in _observers:
            observer(conn, rows)
