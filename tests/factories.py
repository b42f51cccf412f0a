"""Small factories that build applications, persons, installations and events through the
service layer, in the caller's transaction: for tests of rules that need rows, not HTTP.

    with db.write() as conn:
        shop = factories.app(conn)
        phone = factories.installation(conn, shop)
        ann = factories.person(conn, "ann", emails=["ann@example.com"])
        factories.event_definition(conn, "purchase", amount="number")
        factories.event(conn, ann.id, "purchase", amount=12)
"""

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row

from audience.apps import service as apps
from audience.auth.principals import AppPrincipal
from audience.clock import isoformat, utcnow
from audience.events import definitions
from audience.events import service as events
from audience.installations import service as installations
from audience.persons import service as persons
from audience.persons.audit import Audit

SOURCE = "apikey:factories"


def audit() -> Audit:
    return Audit(SOURCE, utcnow())


def app(conn: Connection, name: str = "Shop", require_user_jwt: bool = False) -> AppPrincipal:
    created = apps.create_app(conn, name, require_user_jwt)
    return AppPrincipal(
        id=created["id"],
        application_code=created["applicationCode"],
        require_user_jwt=require_user_jwt,
        jwt_secret=created["jwtSecret"],
    )


def installation(conn: Connection, application: AppPrincipal, **fields: Any) -> Row:
    """R1: a new installation (snake_case fields, ``platform`` defaults to Android) with its
    new anonymous person and an ``Install`` event."""
    return installations.register(conn, application, {"platform": "Android", **fields})


def person(
    conn: Connection,
    external_user_id: str | None = None,
    *,
    phones: list[str] | None = None,
    emails: list[str] | None = None,
    tags: list[str] | None = None,
    **attributes: Any,
) -> Row:
    """An identified person (give at least one identity); ``attributes`` in snake_case."""
    fields: dict[str, Any] = dict(attributes)
    for name, value in (
        ("external_user_id", external_user_id),
        ("phones", phones),
        ("emails", emails),
        ("tags", tags),
    ):
        if value is not None:
            fields[name] = value
    return persons.create_person(conn, fields, audit())


def event_definition(conn: Connection, definition_id: str, **properties: str) -> Row:
    """A custom event definition; ``properties`` maps names to types (``amount="number"``)."""
    return definitions.create_definition(conn, definition_id, None, properties, True)


def event(
    conn: Connection,
    person_id: str,
    definition_id: str,
    occurred_at: datetime | None = None,
    event_id: str | None = None,
    **properties: Any,
) -> Row:
    """A custom event recorded server-side (R8 checks apply; the definition must exist)."""
    raw: dict[str, Any] = {"definitionId": definition_id, "properties": properties}
    if occurred_at is not None:
        raw["date"] = isoformat(occurred_at)
    if event_id is not None:
        raw["eventId"] = event_id
    row, _created = events.record_server_event(conn, person_id, raw)
    return row
