"""A small hand-checked data set, written straight into the tables (no HTTP), so every rule
condition can be tested against members worked out by hand."""

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, insert

from audience.clock import isoformat
from audience.tables import (
    applications,
    attribute_definitions,
    event_definitions,
    events,
    installations,
    person_aliases,
    person_identities,
    person_tags,
    persons,
)

NAMES = ("ann", "bob", "cid", "dan")


def _person(conn: Connection, pid: str, now: datetime, **values: Any) -> None:
    row = {
        "id": pid,
        "type": "ANONYMOUS",
        "custom_attributes": {},
        "created_at": now - timedelta(days=100),
        "updated_at": now,
    } | values
    conn.execute(insert(persons).values(**row))


def _installation(conn: Connection, reg_id: str, pid: str, now: datetime, **values: Any) -> None:
    row = {
        "push_registration_id": reg_id,
        "application_id": "app1",
        "person_id": pid,
        "platform": "Android",
        "push_registration_enabled": True,
        "registrations_enabled": True,
        "is_primary_device": False,
        "custom_attributes": {},
        "created_at": now,
        "updated_at": now,
        "push_service_type": "Firebase",
        "push_service_token": f"tok-{reg_id}",
    } | values
    conn.execute(insert(installations).values(**row))


def _events(
    conn: Connection, pid: str, definition: str, now: datetime, *specs: tuple[int, dict[str, Any]]
) -> None:
    for days_ago, properties in specs:
        at = now - timedelta(days=days_ago)
        conn.execute(
            insert(events).values(
                person_id=pid,
                push_registration_id=None,
                definition_id=definition,
                occurred_at=at,
                received_at=at,
                properties=properties,
            )
        )


def load(conn: Connection, now: datetime) -> None:
    conn.execute(
        insert(applications).values(
            id="app1",
            application_code="code1",
            name="Shop",
            require_user_jwt=False,
            jwt_secret="s",
            created_at=now,
            updated_at=now,
        )
    )
    for name, type_, scope in [
        ("plan", "string", "person"),
        ("score", "number", "person"),
        ("vip", "boolean", "person"),
        ("since", "date", "person"),
        ("lastSeen", "datetime", "person"),
        ("orders", "list", "person"),
        ("darkMode", "boolean", "installation"),
        ("fontSize", "number", "installation"),
    ]:
        conn.execute(
            insert(attribute_definitions).values(
                name=name, type=type_, scope=scope, created_at=now, updated_at=now
            )
        )
    conn.execute(
        insert(event_definitions).values(
            id="purchase",
            properties={"amount": "number", "sku": "string"},
            active=True,
            created_at=now,
            updated_at=now,
        )
    )

    _person(
        conn,
        "ann",
        now,
        type="IDENTIFIED",
        external_user_id="ann",
        first_name="Ann",
        last_name="Lee",
        gender="Female",
        birthday="1990-05-01",
        created_at=now - timedelta(days=10),
        custom_attributes={
            "plan": "gold",
            "score": 10,
            "vip": True,
            "since": "2024-01-01",
            "lastSeen": isoformat(now - timedelta(days=2)),
            "orders": [{"sku": "a"}],
        },
    )
    _person(
        conn,
        "bob",
        now,
        type="IDENTIFIED",
        external_user_id="bob",
        first_name="Bob",
        gender="Male",
        custom_attributes={"plan": "silver", "score": 3, "vip": False},
    )
    _person(conn, "cid", now)
    _person(conn, "dan", now, custom_attributes={"score": 7.5, "plan": "Gold_Plus%"})

    conn.execute(
        insert(person_tags),
        [
            {"person_id": "ann", "tag": "vip"},
            {"person_id": "ann", "tag": "beta"},
            {"person_id": "bob", "tag": "beta"},
        ],
    )
    conn.execute(
        insert(person_identities),
        [
            {"kind": "email", "value": "ann@x.com", "person_id": "ann", "created_at": now},
            {"kind": "phone", "value": "+385911234567", "person_id": "ann", "created_at": now},
            {"kind": "email", "value": "bob@y.org", "person_id": "bob", "created_at": now},
        ],
    )
    _installation(
        conn,
        "i-ann-ios",
        "ann",
        now,
        platform="iOS",
        is_primary_device=True,
        notifications_enabled=True,
        custom_attributes={"darkMode": True},
        os_version="17.4",
        push_service_type="APNS",
    )
    _installation(
        conn,
        "i-ann-android",
        "ann",
        now,
        notifications_enabled=True,
        custom_attributes={"fontSize": 12},
    )
    _installation(conn, "i-bob", "bob", now, notifications_enabled=False, os_version="14")
    _installation(
        conn, "i-cid", "cid", now, platform="iOS", uninstalled_at=now, notifications_enabled=True
    )
    _installation(
        conn,
        "i-dan",
        "dan",
        now,
        push_registration_enabled=False,
        notifications_enabled=True,
        device_timezone_offset=60,
    )

    _events(
        conn,
        "ann",
        "purchase",
        now,
        (1, {"amount": 20, "sku": "a"}),
        (5, {"amount": 15, "sku": "b"}),
        (20, {"amount": 5, "sku": "c"}),
    )
    _events(
        conn,
        "bob",
        "purchase",
        now,
        (10, {"amount": 50, "sku": "a"}),
        (40, {"amount": 100, "sku": "a"}),
    )
    # dan's purchases were recorded under an anonymous id merged into dan
    conn.execute(insert(person_aliases).values(alias_id="old-dan", person_id="dan", created_at=now))
    _events(
        conn,
        "old-dan",
        "purchase",
        now,
        (2, {"amount": 11}),
        (3, {"amount": 12}),
        (4, {"amount": 13}),
    )
    _events(conn, "ann", "AppLaunch", now, (0, {"platform": "iOS"}))
