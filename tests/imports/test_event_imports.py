"""Event imports (SPEC §15): historical dates, both person keys, idempotent by eventId,
per-row errors, segments updated."""

from typing import Any

import pytest

from audience.config import Settings
from tests.helpers import Api
from tests.imports.bulk import define_event, import_errors, run_import


@pytest.fixture
def setup(api: Api, shop: dict[str, Any]) -> dict[str, Any]:
    define_event(api, "purchase", amount="number", sku="string", gift="boolean")
    installation = api.register(shop)
    person = api.create_person(externalUserId="buyer")
    return {"installation": installation, "person": person}


def test_historical_events_by_installation_or_external_id(
    api: Api, settings: Settings, setup: dict[str, Any]
) -> None:
    reg = setup["installation"]["pushRegistrationId"]
    body = (
        "pushRegistrationId,externalUserId,definitionId,eventId,occurredAt,"
        "properties.amount,properties.sku,properties.gift\n"
        f"{reg},,purchase,e1,2019-03-04T05:06:07Z,12.5,A-1,true\n"
        ",buyer,purchase,e2,2020-01-01T00:00:00Z,3,,false\n"
        ",buyer,purchase,,2021-06-01T00:00:00Z,,B,\n"
    )
    job = run_import(api, settings, "events", body)
    assert (job["status"], job["rows"], job["created"], job["failed"]) == ("done", 3, 3, 0)
    device_person = setup["installation"]["personId"]
    [event] = api.events_of(device_person, definitionId="purchase")
    assert event["occurredAt"] == "2019-03-04T05:06:07.000Z"
    assert event["eventId"] == "e1"
    assert event["pushRegistrationId"] == reg
    assert event["properties"] == {"amount": 12.5, "sku": "A-1", "gift": True}
    buyer = api.events_of(setup["person"]["id"], definitionId="purchase")
    assert sorted(e["occurredAt"] for e in buyer) == [
        "2020-01-01T00:00:00.000Z",
        "2021-06-01T00:00:00.000Z",
    ]
    assert {e["eventId"] for e in buyer} == {"e2", None}


def test_ndjson_events_and_reimport_is_idempotent_by_event_id(
    api: Api, settings: Settings, setup: dict[str, Any]
) -> None:
    reg = setup["installation"]["pushRegistrationId"]
    body = (
        f'{{"pushRegistrationId": "{reg}", "definitionId": "purchase", "eventId": "n1", '
        '"occurredAt": "2022-02-02T02:02:02Z", "properties": {"amount": 1}}\n'
        '{"externalUserId": "buyer", "definitionId": "purchase", "eventId": "n1", '
        '"occurredAt": "2022-02-02T02:02:02Z", "properties.amount": 2}\n'
        '{"externalUserId": "buyer", "definitionId": "purchase", "eventId": "n1", '
        '"occurredAt": "2022-02-03T02:02:02Z", "properties.amount": 2}\n'
    )
    first = run_import(api, settings, "events", body, file_format="ndjson")
    # the third row repeats the second's eventId for the same person: stored once
    assert (first["rows"], first["created"], first["failed"]) == (3, 2, 0)
    again = run_import(api, settings, "events", body, file_format="ndjson")
    assert (again["rows"], again["created"], again["failed"]) == (3, 0, 0)
    assert len(api.events_of(setup["person"]["id"], definitionId="purchase")) == 1
    assert len(api.events_of(setup["installation"]["personId"], definitionId="purchase")) == 1


def test_invalid_event_rows_are_listed_with_the_api_codes(
    api: Api, settings: Settings, setup: dict[str, Any]
) -> None:
    body = (
        "pushRegistrationId,externalUserId,definitionId,eventId,occurredAt,properties.amount\n"
        ",buyer,purchase,ok,2023-01-01T00:00:00Z,1\n"
        ",buyer,nosuch,x1,2023-01-01T00:00:00Z,\n"
        ",buyer,purchase,x2,2023-01-01T00:00:00Z,lots\n"
        ",buyer,purchase,x3,yesterday,\n"
        ",nobody,purchase,x4,2023-01-01T00:00:00Z,\n"
        "gone,,purchase,x5,2023-01-01T00:00:00Z,\n"
        ",,purchase,x6,2023-01-01T00:00:00Z,\n"
        ",buyer,Install,x7,2023-01-01T00:00:00Z,\n"
        ",buyer,purchase,x8,2999-01-01T00:00:00Z,\n"
    )
    job = run_import(api, settings, "events", body)
    assert (job["rows"], job["created"], job["failed"]) == (9, 1, 8)
    errors = {e["row"]: (e["code"], e["field"]) for e in import_errors(api, job["id"])}
    assert errors == {
        2: ("INVALID_EVENT", "definitionId"),
        3: ("INVALID_EVENT", "properties.amount"),
        4: ("VALIDATION_ERROR", "occurredAt"),
        5: ("PERSON_NOT_FOUND", "externalUserId"),
        6: ("NO_REGISTRATION", "pushRegistrationId"),
        7: ("VALIDATION_ERROR", "pushRegistrationId"),
        8: ("INVALID_EVENT", "definitionId"),
        9: ("VALIDATION_ERROR", "occurredAt"),
    }


def test_imported_events_update_segments(
    api: Api, settings: Settings, setup: dict[str, Any]
) -> None:
    rule = {"event": "purchase", "count": {"gte": 2}}
    segment = api.client.post(
        "/v1/segments", json={"name": "buyers", "rule": rule}, headers=api.admin
    ).json()
    body = (
        "externalUserId,definitionId,eventId,occurredAt\n"
        "buyer,purchase,s1,2023-01-01T00:00:00Z\n"
        "buyer,purchase,s2,2023-01-02T00:00:00Z\n"
    )
    run_import(api, settings, "events", body)
    members = api.client.get(f"/v1/segments/{segment['id']}/members", headers=api.admin).json()
    assert [m["id"] for m in members["items"]] == [setup["person"]["id"]]
