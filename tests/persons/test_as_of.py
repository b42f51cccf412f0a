"""Ordered person updates (SPEC §14 ``asOf``) on the server and the mobile person PATCH."""

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.helpers import Api, assert_error


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def patch(api: Api, person_id: str, body: dict[str, Any]) -> Any:
    return api.client.patch(f"/v1/persons/{person_id}", json=body, headers=api.admin)


def test_an_older_change_keeps_newer_fields(api: Api) -> None:
    api.define_attribute("plan", "string")
    api.define_attribute("color", "string")
    person = api.create_person(externalUserId="u1", firstName="First")
    made_offline = datetime.now(UTC) - timedelta(hours=2)
    assert patch(api, person["id"], {"customAttributes": {"plan": "gold"}}).status_code == 200
    response = patch(
        api,
        person["id"],
        {
            "firstName": "Offline",
            "lastName": "Lee",
            "customAttributes": {"plan": "free", "color": "red"},
            "tags": {"add": ["queued"]},
            "asOf": iso(made_offline),
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["ignoredFields"] == ["firstName", "customAttributes.plan"]
    assert body["firstName"] == "First" and body["lastName"] == "Lee"
    assert body["customAttributes"] == {"plan": "gold", "color": "red"}
    assert body["tags"] == ["queued"]


def test_a_newer_change_applies_and_lists_nothing(api: Api) -> None:
    person = api.create_person(externalUserId="u1", firstName="First")
    response = patch(
        api, person["id"], {"firstName": "Second", "asOf": iso(datetime.now(UTC) + timedelta(0))}
    )
    assert response.status_code == 200, response.text
    assert response.json()["firstName"] == "Second" and response.json()["ignoredFields"] == []
    without = patch(api, person["id"], {"firstName": "Third"}).json()
    assert "ignoredFields" not in without and without["firstName"] == "Third"


def test_mobile_person_patch_honours_as_of(api: Api, shop: dict[str, Any]) -> None:
    device = api.register(shop)
    url = f"/v1/installations/{device['pushRegistrationId']}/person"
    old = iso(datetime.now(UTC) - timedelta(minutes=5))
    first = api.client.patch(url, json={"firstName": "Now"}, headers=api.mobile(shop))
    assert first.status_code == 200, first.text
    late = api.client.patch(
        url, json={"firstName": "Queued", "lastName": "Kept", "asOf": old}, headers=api.mobile(shop)
    )
    assert late.status_code == 200, late.text
    assert late.json()["firstName"] == "Now" and late.json()["lastName"] == "Kept"
    assert late.json()["ignoredFields"] == ["firstName"]


def test_invalid_as_of_is_a_validation_error(api: Api) -> None:
    person = api.create_person(externalUserId="u1")
    response = patch(api, person["id"], {"firstName": "X", "asOf": "yesterday"})
    assert_error(response, 400, "VALIDATION_ERROR", "asOf")
