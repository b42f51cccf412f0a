"""Standard events (R6): recorded by the server with the installation's state at that moment."""

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, insert

from audience.tables import events

INSTALL = "Install"
UNINSTALL = "Uninstall"
PERSONALIZE = "Personalize"
DEPERSONALIZE = "Depersonalize"
APP_LAUNCH = "AppLaunch"
SEGMENT_ENTERED = "SegmentEntered"
SEGMENT_LEFT = "SegmentLeft"
# Sent by the app about a push message (SPEC §13): the one property is the message's id.
PUSH_DELIVERED = "PushDelivered"
PUSH_OPENED = "PushOpened"
PUSH_EVENTS = frozenset({PUSH_DELIVERED, PUSH_OPENED})
STANDARD_EVENTS = frozenset(
    {INSTALL, UNINSTALL, PERSONALIZE, DEPERSONALIZE, APP_LAUNCH, SEGMENT_ENTERED, SEGMENT_LEFT}
    | PUSH_EVENTS
)


def standard_properties(installation: Row, application_code: str) -> dict[str, Any]:
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


def record_standard_event(
    conn: Connection,
    definition_id: str,
    installation: Row,
    application_code: str,
    person_id: str,
    at: datetime,
) -> None:
    """Append one standard event for ``person_id``, stamped with ``installation``'s R6 data."""
    conn.execute(
        insert(events).values(
            person_id=person_id,
            push_registration_id=installation.push_registration_id,
            definition_id=definition_id,
            occurred_at=at,
            received_at=at,
            properties=standard_properties(installation, application_code),
        )
    )


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
    conn.execute(
        insert(events),
        [
            {
                "person_id": person_id,
                "push_registration_id": None,
                "definition_id": definition_id,
                "occurred_at": at,
                "received_at": at,
                "properties": properties,
            }
            for person_id in person_ids
        ],
    )
