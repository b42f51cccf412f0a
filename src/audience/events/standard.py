"""Standard events (R6): recorded by the server with the installation's state at that moment."""

from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from audience.clock import isoformat
from audience.events.names import (
    APP_LAUNCH,
    DEPERSONALIZE,
    INSTALL,
    PERSONALIZE,
    PUSH_DELIVERED,
    PUSH_EVENTS,
    PUSH_OPENED,
    SEGMENT_ENTERED,
    SEGMENT_LEFT,
    STANDARD_EVENTS,
    UNINSTALL,
)
from audience.events.observers import notify
from audience.events.queries import insert_events, insert_events_returning_ids
from audience.webhooks.publish import publish_events, wanted

# The names are re-exported: most code knows them from here.
__all__ = [
    "APP_LAUNCH",
    "DEPERSONALIZE",
    "INSTALL",
    "PERSONALIZE",
    "PUSH_DELIVERED",
    "PUSH_EVENTS",
    "PUSH_OPENED",
    "SEGMENT_ENTERED",
    "SEGMENT_LEFT",
    "STANDARD_EVENTS",
    "UNINSTALL",
    "event_api_form",
    "record_person_event",
    "record_standard_event",
    "standard_properties",
]


def standard_properties(installation: Any, application_code: str) -> dict[str, Any]:
    """The R6 properties, from an installation row as it is now."""
    return {
        "appCode": application_code,
        "pushRegId": installation.push_registration_id,
        "applicationVersion": installation.application_version,
        "deviceManufacturer": installation.device_manufacturer,
        "deviceModel": installation.device_model,
        "osLanguage": installation.os_language,
        "osVersion": installation.os_version,
        "platform": installation.platform,
        "sdkVersion": installation.sdk_version,
    }


def event_api_form(event_pk: int, values: dict[str, Any]) -> dict[str, Any]:
    """A stored event as the history API shows it, from its id and its column values."""
    return {
        "id": str(event_pk),
        "personId": values["person_id"],
        "pushRegistrationId": values["push_registration_id"],
        "definitionId": values["definition_id"],
        "occurredAt": isoformat(values["occurred_at"]),
        "receivedAt": isoformat(values["received_at"]),
        "eventId": values.get("event_id"),
        "properties": values["properties"] or {},
    }


def record_standard_event(
    conn: Connection,
    definition_id: str,
    installation: Any,
    application_code: str,
    person_id: str,
    at: datetime,
) -> None:
    """Append one standard event for ``person_id``, stamped with ``installation``'s R6 data
    (``installation``: any row or object with the installation's columns as attributes)."""
    values = {
        "person_id": person_id,
        "push_registration_id": installation.push_registration_id,
        "definition_id": definition_id,
        "occurred_at": at,
        "received_at": at,
        "event_id": None,
        "properties": standard_properties(installation, application_code),
    }
    _store(conn, [values])


def _store(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """The ingestion path's insert (register and personalize record an event every time),
    offered to webhooks and the event observers; ids are read back only for webhooks."""
    definition_ids = {row["definition_id"] for row in rows}
    if wanted(conn, definition_ids):
        pks = insert_events_returning_ids(conn, rows)
        publish_events(conn, zip(pks, (row["definition_id"] for row in rows), strict=True))
    else:
        insert_events(conn, rows)
    notify(conn, rows)


def record_person_event(
    conn: Connection,
    definition_id: str,
    person_ids: list[str],
    at: datetime,
    properties: dict[str, Any],
) -> None:
    """Append one server-side event (no installation) to each of ``person_ids``."""
    if not person_ids:
        return
    rows = [
        {
            "person_id": person_id,
            "push_registration_id": None,
            "definition_id": definition_id,
            "occurred_at": at,
            "received_at": at,
            "event_id": None,
            "properties": properties,
        }
        for person_id in person_ids
    ]
    _store(conn, rows)
