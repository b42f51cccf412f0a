from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from audience.clock import utcnow
from audience.db import Database
from audience.installations.queries import update_installation
from audience.persons.queries import insert_anonymous_person
from audience.tables import events
from tests.events.conftest import Events, ago, iso, served_installation
from tests.helpers import Api, assert_error, auth


def _count(db: Database) -> int:
    with db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(events)).scalar_one())


def _custom(api: Api, person_id: str) -> list[dict[str, Any]]:
    return [e for e in api.events_of(person_id) if e["definitionId"] not in ("Install",)]


def test_custom_event_is_stored_with_every_field(api: Api, ev: Events, device: dict) -> None:
    ev.define("purchase", amount="number", sku="string", gift="boolean", day="date", at="datetime")
    when = ago(hours=2)
    before = datetime.now(UTC)
    body = ev.accept(
        device,
        [
            {
                "definitionId": "purchase",
                "date": iso(when),
                "eventId": "e-1",
                "properties": {
                    "amount": 12.5,
                    "sku": "A1",
                    "gift": False,
                    "day": "2026-01-02",
                    "at": "2026-01-02T03:04:05+01:00",
                },
            }
        ],
    )
    assert body == {"accepted": 1, "duplicates": 0, "dropped": 0}
    [stored] = _custom(api, device["personId"])
    assert stored["definitionId"] == "purchase"
    assert stored["personId"] == device["personId"]
    assert stored["pushRegistrationId"] == device["pushRegistrationId"]
    assert stored["eventId"] == "e-1"
    assert stored["occurredAt"] == iso(when)
    assert stored["properties"] == {
        "amount": 12.5,
        "sku": "A1",
        "gift": False,
        "day": "2026-01-02",
        "at": "2026-01-02T02:04:05.000Z",
    }
    received = datetime.fromisoformat(stored["receivedAt"])
    assert before - timedelta(seconds=1) <= received <= datetime.now(UTC)
    assert isinstance(stored["id"], str) and stored["id"]


def test_date_defaults_to_receipt_time(api: Api, ev: Events, device: dict) -> None:
    ev.define("open")
    ev.accept(device, [{"definitionId": "open"}])
    [stored] = _custom(api, device["personId"])
    assert stored["occurredAt"] == stored["receivedAt"]
    assert stored["eventId"] is None and stored["properties"] == {}


@pytest.mark.parametrize(
    ("event", "code", "field"),
    [
        ({"definitionId": "nope"}, "INVALID_EVENT", "definitionId"),
        ({"definitionId": "Install"}, "INVALID_EVENT", "definitionId"),
        ({"definitionId": "retired"}, "INVALID_EVENT", "definitionId"),
        (
            {"definitionId": "purchase", "properties": {"colour": "red"}},
            "INVALID_EVENT",
            "properties.colour",
        ),
        (
            {"definitionId": "purchase", "properties": {"amount": "12"}},
            "INVALID_EVENT",
            "properties.amount",
        ),
        (
            {"definitionId": "purchase", "properties": {"amount": True}},
            "INVALID_EVENT",
            "properties.amount",
        ),
        (
            {"definitionId": "purchase", "properties": {"amount": None}},
            "INVALID_EVENT",
            "properties.amount",
        ),
        ({"definitionId": "purchase", "properties": {"sku": 5}}, "INVALID_EVENT", "properties.sku"),
        (
            {"definitionId": "purchase", "properties": {"gift": "yes"}},
            "INVALID_EVENT",
            "properties.gift",
        ),
        (
            {"definitionId": "purchase", "properties": {"day": "02/01/2026"}},
            "INVALID_EVENT",
            "properties.day",
        ),
        (
            {"definitionId": "purchase", "properties": {"at": "yesterday"}},
            "INVALID_EVENT",
            "properties.at",
        ),
        ({"definitionId": "purchase", "properties": ["amount"]}, "VALIDATION_ERROR", "properties"),
        ({"definitionId": "AppLaunch", "properties": {"x": 1}}, "INVALID_EVENT", "properties"),
        ({"properties": {}}, "VALIDATION_ERROR", "definitionId"),
        ({"definitionId": 7}, "VALIDATION_ERROR", "definitionId"),
        # well past the 5-minute limit: parameters are built at collection, minutes before the run
        ({"definitionId": "purchase", "date": iso(ago(minutes=-180))}, "VALIDATION_ERROR", "date"),
        (
            {"definitionId": "purchase", "date": iso(ago(days=30, hours=2))},
            "VALIDATION_ERROR",
            "date",
        ),
        ({"definitionId": "purchase", "date": "last tuesday"}, "VALIDATION_ERROR", "date"),
        ({"definitionId": "purchase", "date": 1700000000}, "VALIDATION_ERROR", "date"),
        ({"definitionId": "purchase", "eventId": ""}, "VALIDATION_ERROR", "eventId"),
        ({"definitionId": "purchase", "eventId": "x" * 37}, "VALIDATION_ERROR", "eventId"),
        ({"definitionId": "purchase", "eventId": 12}, "VALIDATION_ERROR", "eventId"),
        ({"definitionId": "purchase", "colour": "red"}, "VALIDATION_ERROR", "colour"),
    ],
)
def test_an_invalid_event_rejects_the_whole_batch(
    api: Api, ev: Events, device: dict, db: Database, event: dict, code: str, field: str
) -> None:
    ev.define("purchase", amount="number", sku="string", gift="boolean", day="date", at="datetime")
    ev.define("retired")
    api.client.patch("/v1/event-definitions/retired", json={"active": False}, headers=api.admin)
    good = {"definitionId": "purchase", "properties": {"amount": 1}}
    stored_before = _count(db)
    response = ev.send(device, [good, good, good, event, good])
    assert_error(response, 400, code, f"events.3.{field}")
    assert _count(db) == stored_before


def test_non_object_event_and_batch_shape(ev: Events, device: dict, db: Database) -> None:
    ev.define("open")
    assert_error(
        ev.send(device, [{"definitionId": "open"}, "open"]), 400, "VALIDATION_ERROR", "events.1"
    )
    assert_error(ev.send(device, []), 400, "VALIDATION_ERROR", "events")
    assert_error(
        ev.send(device, [{"definitionId": "open"}] * 1001), 400, "VALIDATION_ERROR", "events"
    )
    url = f"/v1/installations/{device['pushRegistrationId']}/events"
    headers = ev.api.mobile(ev.app)
    assert_error(
        ev.api.client.post(url, json={}, headers=headers), 400, "VALIDATION_ERROR", "events"
    )
    assert_error(
        ev.api.client.post(url, json={"events": [], "x": 1}, headers=headers),
        400,
        "VALIDATION_ERROR",
    )
    assert_error(
        ev.api.client.post(
            url, content=b"{nope", headers=headers | {"Content-Type": "application/json"}
        ),
        400,
        "VALIDATION_ERROR",
    )
    assert _count(db) == 1  # the Install event only


def test_date_window_edges_are_accepted(api: Api, ev: Events, device: dict) -> None:
    ev.define("open")
    hour_ago = ago(hours=1).replace(microsecond=0)
    body = ev.accept(
        device,
        [
            {"definitionId": "open", "date": iso(ago(minutes=-4, seconds=-50))},
            {"definitionId": "open", "date": iso(ago(days=29, hours=23, minutes=59))},
            # no zone means UTC; an offset is converted
            {"definitionId": "open", "date": iso(hour_ago)[:-1], "eventId": "naive"},
            {
                "definitionId": "open",
                "date": "{}+02:00".format(
                    (hour_ago + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%S")
                ),
                "eventId": "offset",
            },
        ],
    )
    assert body["accepted"] == 4
    stored = {e["eventId"]: e["occurredAt"] for e in _custom(api, device["personId"])}
    assert stored["naive"] == stored["offset"] == iso(hour_ago)


def test_batch_of_1000_is_accepted(api: Api, ev: Events, device: dict, db: Database) -> None:
    ev.define("tick", n="number")
    batch = [
        {"definitionId": "tick", "eventId": f"t{i}", "properties": {"n": i}} for i in range(1000)
    ]
    assert ev.accept(device, batch) == {"accepted": 1000, "duplicates": 0, "dropped": 0}
    assert _count(db) == 1001


def test_body_over_the_limit_is_413_and_stores_nothing(
    ev: Events, device: dict, db: Database
) -> None:
    ev.define("note", text="string")
    # the test app's limit is 1 MiB; 300 events of ~4 KiB are ~1.2 MiB
    batch = [{"definitionId": "note", "properties": {"text": "x" * 4000}}] * 300
    assert_error(ev.send(device, batch), 413, "PAYLOAD_TOO_LARGE")
    assert _count(db) == 1


def test_same_batch_twice_is_stored_once(api: Api, ev: Events, device: dict, db: Database) -> None:
    ev.define("purchase", amount="number")
    batch = [
        {"definitionId": "purchase", "eventId": f"order-{i}", "properties": {"amount": i}}
        for i in range(3)
    ] + [{"definitionId": "purchase", "properties": {"amount": 9}}]
    assert ev.accept(device, batch) == {"accepted": 4, "duplicates": 0, "dropped": 0}
    # events without eventId cannot be recognised as retries and are stored again
    assert ev.accept(device, batch) == {"accepted": 1, "duplicates": 3, "dropped": 0}
    assert _count(db) == 1 + 5


def test_repeated_event_id_within_a_batch_counts_once(api: Api, ev: Events, device: dict) -> None:
    ev.define("purchase", amount="number")
    first = {"definitionId": "purchase", "eventId": "same", "properties": {"amount": 1}}
    second = {"definitionId": "purchase", "eventId": "same", "properties": {"amount": 2}}
    assert ev.accept(device, [first, second]) == {"accepted": 1, "duplicates": 1, "dropped": 0}
    [stored] = _custom(api, device["personId"])
    assert stored["properties"] == {"amount": 1}


def test_same_event_id_from_two_installations_is_two_events(
    api: Api, ev: Events, shop: dict, device: dict
) -> None:
    ev.define("open")
    other = api.register(shop, platform="Android")
    event = {"definitionId": "open", "eventId": "shared-id"}
    assert ev.accept(device, [event])["accepted"] == 1
    assert ev.accept(other, [event])["accepted"] == 1
    assert len(_custom(api, device["personId"])) == 1
    assert len(_custom(api, other["personId"])) == 1


def test_validate_false_stores_the_valid_and_lists_the_invalid(
    api: Api, ev: Events, device: dict
) -> None:
    ev.define("purchase", amount="number")
    batch = [
        {"definitionId": "purchase", "properties": {"amount": 1}},
        {"definitionId": "purchase", "properties": {"amount": "one"}},
        {"definitionId": "unknown"},
        {"definitionId": "purchase", "eventId": "x" * 40},
        "not an event",
        {"definitionId": "purchase", "properties": {"amount": 2}, "eventId": "a"},
        {"definitionId": "purchase", "properties": {"amount": 3}, "eventId": "a"},
    ]
    body = ev.accept(device, batch, validate="false")
    assert body["accepted"] == 2 and body["duplicates"] == 1 and body["dropped"] == 0
    assert [(i["index"], i["code"], i["field"]) for i in body["invalid"]] == [
        (1, "INVALID_EVENT", "events.1.properties.amount"),
        (2, "INVALID_EVENT", "events.2.definitionId"),
        (3, "VALIDATION_ERROR", "events.3.eventId"),
        (4, "VALIDATION_ERROR", "events.4"),
    ]
    assert all(isinstance(i["reason"], str) and i["reason"] for i in body["invalid"])
    amounts = sorted(e["properties"]["amount"] for e in _custom(api, device["personId"]))
    assert amounts == [1, 2]
    # an all-valid batch answers an empty list
    assert ev.accept(device, [batch[0]], validate="false")["invalid"] == []


@pytest.mark.parametrize("flag", ["false", "0", "no", "off", "FALSE"])
def test_validate_flag_spellings(ev: Events, device: dict, flag: str) -> None:
    ev.define("open")
    body = ev.accept(device, [{"definitionId": "open"}, {"definitionId": "nope"}], validate=flag)
    assert body["accepted"] == 1 and [i["index"] for i in body["invalid"]] == [1]


def test_validate_flag_must_be_a_boolean(db: Database, ev: Events, device: dict) -> None:
    ev.define("open")
    stored = _count(db)
    response = ev.send(device, [{"definitionId": "open"}], validate="perhaps")
    assert_error(response, 400, "VALIDATION_ERROR", "validate")
    assert _count(db) == stored


def test_access_rules(api: Api, ev: Events, shop: dict, device: dict) -> None:
    ev.define("open")
    other_app = api.create_app("Other")
    event = [{"definitionId": "open"}]
    assert_error(ev.send(device, event, app=other_app), 404, "NO_REGISTRATION")
    missing = {"pushRegistrationId": "no-such-installation"}
    assert_error(ev.send(missing, event), 404, "NO_REGISTRATION")
    url = f"/v1/installations/{device['pushRegistrationId']}/events"
    as_server = api.client.post(url, json={"events": event}, headers=api.admin)
    assert_error(as_server, 403, "FORBIDDEN")
    assert_error(api.client.post(url, json={"events": event}), 401, "UNAUTHORIZED")
    assert_error(
        api.client.post(url, json={"events": event}, headers=auth("0" * 64)), 401, "UNAUTHORIZED"
    )
    # who is asking is checked before the body
    assert_error(api.client.post(url, json={"events": []}), 401, "UNAUTHORIZED")
    assert_error(ev.send(device, [], app=other_app), 404, "NO_REGISTRATION")
    deleted = api.client.delete(
        f"/v1/installations/{device['pushRegistrationId']}", headers=api.admin
    )
    assert deleted.status_code == 204
    assert_error(ev.send(device, event), 410, "INSTALLATION_UNINSTALLED")


def test_events_go_to_the_installations_current_person(
    api: Api, ev: Events, device: dict, db: Database
) -> None:
    """After a relink (as depersonalize does) new events land on the new person."""
    ev.define("open")
    ev.accept(device, [{"definitionId": "open", "eventId": "before"}])
    with db.write() as conn:
        new_person = insert_anonymous_person(conn, utcnow())
        update_installation(conn, device["pushRegistrationId"], person_id=new_person)
    ev.accept(device, [{"definitionId": "open", "eventId": "after"}])
    assert [e["eventId"] for e in _custom(api, device["personId"])] == ["before"]
    assert [e["eventId"] for e in api.events_of(new_person)] == ["after"]
    # idempotency is per installation, whichever person it belongs to now
    assert ev.accept(device, [{"definitionId": "open", "eventId": "before"}])["duplicates"] == 1


def test_inactive_then_reactivated_definition(api: Api, ev: Events, device: dict) -> None:
    ev.define("open")
    url = "/v1/event-definitions/open"
    api.client.patch(url, json={"active": False}, headers=api.admin)
    assert_error(
        ev.send(device, [{"definitionId": "open"}]), 400, "INVALID_EVENT", "events.0.definitionId"
    )
    api.client.patch(url, json={"active": True}, headers=api.admin)
    assert ev.accept(device, [{"definitionId": "open"}])["accepted"] == 1


@pytest.mark.slow
def test_simultaneous_retries_store_each_event_id_once(database_url: str, db: Database) -> None:
    """The same batch sent 12 times at once through a real 2-worker server: every eventId is
    stored once, whichever worker and connection each copy reached. (``db`` empties the
    database afterwards.)"""

    def define(client: Any, admin: dict[str, str]) -> None:
        client.post("/v1/event-definitions", json={"id": "open"}, headers=admin).raise_for_status()

    with served_installation(database_url, define) as served:
        batch = [{"definitionId": "open", "eventId": f"e{i}"} for i in range(5)]
        answers = served.send_together([batch] * 12)
        assert sum(a["accepted"] for a in answers) == 5
        assert sum(a["duplicates"] for a in answers) == 55
        stored = served.history(definitionId="open")
        assert sorted(e["eventId"] for e in stored) == [f"e{i}" for i in range(5)]
