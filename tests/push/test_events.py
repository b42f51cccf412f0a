"""PushDelivered / PushOpened: standard events the app sends with the message id."""

from typing import Any

from tests.helpers import Api, assert_error


def test_push_events_carry_the_message_id(api: Api, shop: dict[str, Any]) -> None:
    installation = api.register(shop)
    url = f"/v1/installations/{installation['pushRegistrationId']}/events"
    events = [
        {"definitionId": "PushDelivered", "properties": {"messageId": "m1"}},
        {"definitionId": "PushOpened", "properties": {"messageId": "m1"}},
    ]
    response = api.client.post(url, json={"events": events}, headers=api.mobile(shop))
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 2
    stored = api.events_of(installation["personId"], definitionId="PushOpened")
    assert [e["properties"] for e in stored] == [{"messageId": "m1"}]


def test_push_events_without_a_message_id_are_invalid(api: Api, shop: dict[str, Any]) -> None:
    installation = api.register(shop)
    url = f"/v1/installations/{installation['pushRegistrationId']}/events"
    response = api.client.post(
        url, json={"events": [{"definitionId": "PushOpened"}]}, headers=api.mobile(shop)
    )
    assert_error(response, 400, "INVALID_EVENT", "events.0.properties.messageId")


def test_push_event_names_cannot_be_defined_as_custom_events(api: Api) -> None:
    response = api.client.post(
        "/v1/event-definitions", json={"id": "PushOpened", "properties": {}}, headers=api.admin
    )
    assert response.status_code in (400, 409)
