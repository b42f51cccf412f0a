"""Hostile values in filters, rules, attributes, tags and identities: clear 4xx or stored as
plain data, never a 5xx, never interpreted as SQL."""

import pytest

from tests.helpers import Api, assert_error

SQLISH = [
    "' OR 1=1 --",
    '"; DROP TABLE persons; --',
    "%' UNION SELECT * FROM api_keys --",
    "\\",
    "%",
    "_",
    "1; SELECT pg_sleep(5)",
]


@pytest.mark.parametrize("value", SQLISH)
def test_sql_looking_strings_are_just_data(api: Api, shop: dict, value: str) -> None:
    api.define_attribute("plan", "string")
    person = api.create_person(
        externalUserId=value, firstName=value, tags=["t" + value], customAttributes={"plan": value}
    )
    assert api.person(person["id"])["firstName"] == value
    for params in ({"externalUserId": value}, {"tag": "t" + value}, {"type": "IDENTIFIED"}):
        body = api.client.get("/v1/persons", params=params, headers=api.admin).json()
        assert [p["id"] for p in body["items"]] == [person["id"]]
    found = api.client.get(
        "/v1/persons/lookup", params={"externalUserId": value}, headers=api.admin
    )
    assert found.json()["id"] == person["id"]
    for rule in (
        {"attribute": "firstName", "op": "eq", "value": value},
        {"attribute": "firstName", "op": "contains", "value": value},
        {"attribute": "firstName", "op": "starts_with", "value": value},
        {"customAttribute": "plan", "op": "in", "value": [value]},
        {"tag": "t" + value},
    ):
        response = api.client.post("/v1/segments/preview", json={"rule": rule}, headers=api.admin)
        assert response.json()["count"] == 1, (rule, response.text)
    response = api.client.post(
        "/v1/segments/preview",
        headers=api.admin,
        json={"rule": {"attribute": "lastName", "op": "contains", "value": value}},
    )
    assert response.json()["count"] == 0
    events = api.client.get(
        f"/v1/persons/{person['id']}/events", params={"definitionId": value[:36]}, headers=api.admin
    )
    assert events.status_code in (200, 400)


def test_unicode_and_control_characters(api: Api, shop: dict) -> None:
    api.define_attribute("note", "string")
    text = "Žaba 🐸 \u200b\u202e RTL \t tab \x07 bell 中文"
    person = api.create_person(
        externalUserId="Žaba 🐸 中文",
        firstName=text,
        tags=["emoji 🎉"],
        customAttributes={"note": text},
        emails=["ÜSER@exämple.com"],
    )
    read = api.person(person["id"])
    assert read["firstName"] == text and read["customAttributes"]["note"] == text
    assert read["tags"] == ["emoji 🎉"] and read["emails"] == ["üser@exämple.com"]
    assert_error(
        api.client.post(
            "/v1/persons",
            headers=api.admin,
            json={"externalUserId": "x", "tags": ["\nnewline-first"]},
        ),
        400,
        "VALIDATION_ERROR",
        "tags.0",
    )
    assert_error(
        api.client.post(
            "/v1/persons", headers=api.admin, json={"externalUserId": "y", "emails": ["a\nb@x.io"]}
        ),
        400,
        "VALIDATION_ERROR",
        "emails",
    )
    assert_error(
        api.client.post("/v1/persons", headers=api.admin, json={"externalUserId": text}),
        400,
        "VALIDATION_ERROR",
        "externalUserId",
    )


@pytest.mark.parametrize("number", [2**63, -(2**63) - 1, 10**400])
def test_integer_overflow_is_a_400(api: Api, shop: dict, number: int) -> None:
    api.define_attribute("score", "number")
    body = f'{{"externalUserId": "u", "customAttributes": {{"score": {number}}}}}'
    response = api.client.post(
        "/v1/persons", content=body, headers=api.admin | {"Content-Type": "application/json"}
    )
    assert response.status_code == 400, response.text
    installation = f'{{"platform": "iOS", "deviceTimezoneOffset": {number}}}'
    response = api.client.post(
        "/v1/installations",
        content=installation,
        headers=api.mobile(shop) | {"Content-Type": "application/json"},
    )
    assert_error(response, 400, "VALIDATION_ERROR", "deviceTimezoneOffset")


@pytest.mark.parametrize("value", ["0000-01-01", "9999-12-32", "10000-01-01", "2026-02-29"])
def test_dates_out_of_range(api: Api, value: str) -> None:
    api.define_attribute("since", "date")
    response = api.client.post(
        "/v1/persons", headers=api.admin, json={"externalUserId": "u", "birthday": value}
    )
    assert_error(response, 400, "VALIDATION_ERROR", "birthday")
    response = api.client.post(
        "/v1/persons",
        headers=api.admin,
        json={"externalUserId": "u", "customAttributes": {"since": value}},
    )
    assert_error(response, 400, "INVALID_CUSTOM_ATTRIBUTE", "customAttributes.since")


@pytest.mark.parametrize(
    "value",
    [
        "9999-12-31T23:59:59-01:00",
        "0001-01-01T00:00:00+01:00",
        "2026-13-01T00:00:00Z",
        "99999-01-01T00:00:00Z",
    ],
)
def test_datetimes_out_of_range(api: Api, value: str) -> None:
    """Out of range once converted to UTC (year 10000, year 0) or not a calendar time."""
    api.define_attribute("seen", "datetime")
    response = api.client.post(
        "/v1/persons",
        headers=api.admin,
        json={"externalUserId": "u", "customAttributes": {"seen": value}},
    )
    assert_error(response, 400, "INVALID_CUSTOM_ATTRIBUTE", "customAttributes.seen")
    response = api.client.get("/v1/persons", params={"updatedSince": value}, headers=api.admin)
    assert_error(response, 400, "VALIDATION_ERROR", "updatedSince")


def test_early_years_keep_four_digits(api: Api) -> None:
    api.define_attribute("seen", "datetime")
    person = api.create_person(
        externalUserId="u", customAttributes={"seen": "0001-01-01T00:00:00-01:00"}
    )
    assert person["customAttributes"]["seen"] == "0001-01-01T01:00:00.000Z"


@pytest.mark.parametrize("key", [[{}], [1], [True], [None], [["x"]], ["a", "b"]])
def test_tampered_cursors_are_a_400(api: Api, key: list) -> None:
    import base64
    import json

    cursor = base64.urlsafe_b64encode(json.dumps(key).encode()).decode()
    for path in ("/v1/persons", "/v1/apps", "/v1/segments", "/v1/tags"):
        response = api.client.get(path, params={"cursor": cursor}, headers=api.admin)
        assert_error(response, 400, "VALIDATION_ERROR", "cursor")
    if key == ["a", "b"]:
        return  # two strings is the shape of a resolve cursor
    response = api.client.post(
        "/v1/audiences/resolve",
        params={"cursor": cursor},
        json={"rule": {"tag": "x"}},
        headers=api.admin,
    )
    assert_error(response, 400, "VALIDATION_ERROR", "cursor")
