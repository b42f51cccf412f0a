"""Guardrails (SPEC §14): blocked identity values, the device cap, refused attempts audited."""

import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from audience.app import create_app
from audience.config import Settings
from audience.db import Database
from tests.helpers import Api, assert_error


def changes(api: Api, person_id: str) -> list[dict[str, Any]]:
    response = api.client.get(f"/v1/persons/{person_id}/changes", headers=api.admin)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


@pytest.mark.parametrize(
    "identity, field",
    [
        ({"externalUserId": "null"}, "userIdentity.externalUserId"),
        ({"externalUserId": " Undefined "}, "userIdentity.externalUserId"),
        ({"externalUserId": "   "}, "userIdentity.externalUserId"),
        ({"emails": ["unknown"]}, "userIdentity.emails"),
        ({"phones": ["0"]}, "userIdentity.phones"),
    ],
)
def test_placeholder_identities_are_blocked(
    api: Api, shop: dict[str, Any], identity: dict[str, Any], field: str
) -> None:
    device = api.register(shop)
    assert_error(api.personalize(shop, device, identity), 400, "IDENTITY_BLOCKED", field)
    assert api.person(device["personId"])["type"] == "ANONYMOUS"


def test_server_api_refuses_blocked_identities_too(api: Api) -> None:
    response = api.client.post("/v1/persons", json={"externalUserId": "-1"}, headers=api.admin)
    assert_error(response, 400, "IDENTITY_BLOCKED", "externalUserId")
    person = api.create_person(externalUserId="real")
    response = api.client.patch(
        f"/v1/persons/{person['id']}", json={"emails": ["NONE"]}, headers=api.admin
    )
    assert_error(response, 400, "IDENTITY_BLOCKED", "emails")


def test_refused_personalize_attempts_are_audited_with_their_code(
    api: Api, shop: dict[str, Any]
) -> None:
    api.create_person(externalUserId="a", emails=["a@x.io"])
    api.create_person(externalUserId="b", emails=["b@x.io"])
    device = api.register(shop)
    ambiguous = {"emails": ["a@x.io", "b@x.io"]}
    assert_error(api.personalize(shop, device, ambiguous), 409, "AMBIGUOUS_PERSONALIZE_CANDIDATES")
    assert_error(api.personalize(shop, device, {"externalUserId": "null"}), 400, "IDENTITY_BLOCKED")
    refused = [c for c in changes(api, device["personId"]) if c["field"] == "personalizeRefused"]
    codes = [c["newValue"]["code"] for c in refused]
    assert codes == ["IDENTITY_BLOCKED", "AMBIGUOUS_PERSONALIZE_CANDIDATES"]  # newest first
    assert refused[0]["source"] == f"installation:{device['pushRegistrationId']}"


@pytest.fixture
def capped(db: Database, database_url: str) -> Iterator[Api]:
    settings = Settings(
        database_url=database_url,
        segment_sweep_seconds=0,
        max_installations_per_person=2,
        blocked_identities="guest",
    )
    with TestClient(create_app(settings, db), raise_server_exceptions=False) as client:
        yield Api(client, db)


def test_one_device_over_the_cap_evicts_the_least_recently_seen(capped: Api) -> None:
    api = capped
    shop = api.create_app("Shop")
    first, second, third = api.register(shop), api.register(shop), api.register(shop)
    for device in (first, second):
        assert api.personalize(shop, device, {"externalUserId": "u"}).status_code == 200
    time.sleep(0.01)
    seen = api.client.patch(
        f"/v1/installations/{first['pushRegistrationId']}",
        json={"osVersion": "18"},
        headers=api.mobile(shop),
    )
    assert seen.status_code == 200, seen.text
    response = api.personalize(shop, third, {"externalUserId": "u"})
    assert response.status_code == 200, response.text
    person = response.json()
    kept = {i["pushRegistrationId"] for i in person["installations"]}
    assert kept == {first["pushRegistrationId"], third["pushRegistrationId"]}
    evicted = api.client.get(
        f"/v1/installations/{second['pushRegistrationId']}", headers=api.admin
    ).json()
    assert evicted["personId"] != person["id"]
    assert api.person(evicted["personId"])["type"] == "ANONYMOUS"
    fields = [c for c in changes(api, person["id"]) if c["field"] == "installationEvicted"]
    assert [c["oldValue"] for c in fields] == [second["pushRegistrationId"]]


def test_the_blocklist_is_configurable(capped: Api) -> None:
    api = capped
    shop = api.create_app("Shop")
    device = api.register(shop)
    assert_error(
        api.personalize(shop, device, {"externalUserId": "Guest"}), 400, "IDENTITY_BLOCKED"
    )
    assert api.personalize(shop, device, {"externalUserId": "null"}).status_code == 200
