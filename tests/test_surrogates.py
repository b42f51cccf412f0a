"""Lone UTF-16 surrogates (``"x\\ud800y"``) on every string input path answer 400
VALIDATION_ERROR, never a 500 from the database (issue 12 item 5); pairs (emoji) are fine."""

import json
from typing import Any

import pytest

from tests.helpers import Api, assert_error

LONE = "x\ud800y"


def send(api: Api, method: str, path: str, body: Any, headers: dict[str, str]) -> Any:
    """JSON as ASCII-only encoders write it: the surrogate travels as a ``\\ud800`` escape."""
    return api.client.request(
        method,
        path,
        content=json.dumps(body),
        headers=headers | {"Content-Type": "application/json"},
    )


@pytest.fixture
def setup(api: Api, shop: dict) -> dict[str, Any]:
    api.define_attribute("plan", "string")
    device = api.register(shop)
    person = api.create_person(externalUserId="ann")
    return {"device": device, "person": person}


def test_lone_surrogates_answer_400(api: Api, shop: dict, setup: dict) -> None:
    device = setup["device"]["pushRegistrationId"]
    mobile = api.mobile(shop)
    cases = [
        ("POST", "/v1/persons", {"externalUserId": LONE}, api.admin, "externalUserId"),
        ("POST", "/v1/persons", {"externalUserId": "b", "firstName": LONE}, api.admin, None),
        (
            "POST",
            "/v1/persons",
            {"externalUserId": "c", "customAttributes": {"plan": LONE}},
            api.admin,
            "customAttributes.plan",
        ),
        ("PATCH", f"/v1/persons/{setup['person']['id']}", {"lastName": LONE}, api.admin, None),
        (
            "POST",
            "/v1/segments/preview",
            {"rule": {"attribute": "firstName", "op": "eq", "value": LONE}},
            api.admin,
            None,
        ),
        ("PATCH", f"/v1/installations/{device}/person", {"firstName": LONE}, mobile, None),
        ("PATCH", f"/v1/installations/{device}", {"deviceName": LONE}, mobile, None),
        (
            "POST",
            f"/v1/installations/{device}/personalize",
            {"userIdentity": {"externalUserId": LONE}},
            mobile,
            "userIdentity.externalUserId",
        ),
        ("POST", "/v1/installations", {"platform": "iOS", "deviceModel": "\udc00"}, mobile, None),
        (
            "POST",
            f"/v1/installations/{device}/events",
            {"events": [{"definitionId": "AppLaunch", "eventId": LONE}]},
            mobile,
            "events.0.eventId",
        ),
        (  # numbers before the bad string (naming the field once walked into them: a 500)
            "POST",
            f"/v1/installations/{device}/events",
            {"events": [{"definitionId": "AppLaunch", "properties": {"n": 1}, "eventId": LONE}]},
            mobile,
            "events.0.eventId",
        ),
        ("POST", "/v1/persons", {"externalUserId": "d", "tags": [LONE]}, api.admin, "tags.0"),
    ]
    for method, path, body, headers, field in cases:
        response = send(api, method, path, body, headers)
        assert_error(response, 400, "VALIDATION_ERROR", field)
    assert api.person(setup["person"]["id"])["lastName"] is None


def test_surrogate_pairs_are_ordinary_text(api: Api, setup: dict) -> None:
    response = send(
        api,
        "PATCH",
        f"/v1/persons/{setup['person']['id']}",
        {"firstName": "Ann \U0001f600", "customAttributes": {"plan": "\\ud800 as text"}},
        api.admin,
    )
    assert response.status_code == 200, response.text
    assert response.json()["firstName"] == "Ann \U0001f600"
    assert response.json()["customAttributes"]["plan"] == "\\ud800 as text"


def test_undecodable_query_and_path_text(api: Api, setup: dict) -> None:
    response = api.client.get("/v1/persons?externalUserId=%ED%A0%80", headers=api.admin)
    assert response.status_code in (200, 400), response.text
    response = api.client.get("/v1/persons/%ED%A0%80", headers=api.admin)
    assert response.status_code in (400, 404), response.text
