"""Server API for persons: create, read, patch, list, lookup, tags, identities."""

from typing import Any

import pytest

from tests.helpers import Api, assert_error


def test_create_read_and_normalise_identities(api: Api) -> None:
    api.define_attribute("plan", "string")
    person = api.create_person(
        externalUserId="u1",
        phones=["+385 91 123 4567"],
        emails=["  Ann@Example.COM "],
        firstName="Ann",
        lastName="Lee",
        middleName="M",
        gender="Female",
        birthday="1990-05-01",
        tags=["vip"],
        customAttributes={"plan": "gold"},
    )
    assert person["type"] == "IDENTIFIED"
    assert person["phones"] == ["+385911234567"]
    assert person["emails"] == ["ann@example.com"]
    assert person["tags"] == ["vip"] and person["customAttributes"] == {"plan": "gold"}
    assert person["installations"] == []
    assert api.person(person["id"]) == person


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        ({"firstName": "No identity"}, 400, "USER_IDENTITY_INVALID", None),
        ({"externalUserId": "u", "phones": ["12"]}, 400, "PHONE_INVALID", "phones"),
        ({"externalUserId": "u", "phones": ["not a phone"]}, 400, "PHONE_INVALID", "phones"),
        ({"externalUserId": "u", "emails": ["no-at-sign"]}, 400, "EMAIL_INVALID", "emails"),
        ({"externalUserId": "u", "emails": ["a@b"]}, 400, "EMAIL_INVALID", "emails"),
        ({"externalUserId": "x" * 257}, 400, "VALIDATION_ERROR", "externalUserId"),
        ({"externalUserId": "u", "firstName": "x" * 256}, 400, "VALIDATION_ERROR", "firstName"),
        ({"externalUserId": "u", "middleName": "x" * 51}, 400, "VALIDATION_ERROR", "middleName"),
        ({"externalUserId": "u", "gender": "Other"}, 400, "VALIDATION_ERROR", "gender"),
        ({"externalUserId": "u", "birthday": "1990-13-01"}, 400, "VALIDATION_ERROR", "birthday"),
        ({"externalUserId": "u", "birthday": "01.01.1990"}, 400, "VALIDATION_ERROR", "birthday"),
        ({"externalUserId": "u", "tags": [" leading"]}, 400, "VALIDATION_ERROR", "tags.0"),
        ({"externalUserId": "u", "tags": ["x" * 256]}, 400, "VALIDATION_ERROR", "tags.0"),
        (
            {"externalUserId": "u", "emails": [f"a{i}@x.io" for i in range(101)]},
            400,
            "VALIDATION_ERROR",
            "emails",
        ),
        (
            {"externalUserId": "u", "customAttributes": {"nope": 1}},
            400,
            "INVALID_CUSTOM_ATTRIBUTE",
            "customAttributes.nope",
        ),
        ({"externalUserId": "u", "shoeSize": 42}, 400, "VALIDATION_ERROR", "shoeSize"),
    ],
)
def test_create_validation(api: Api, body: dict, status: int, code: str, field: str | None) -> None:
    response = api.client.post("/v1/persons", json=body, headers=api.admin)
    assert_error(response, status, code, field)
    assert api.client.get("/v1/persons", headers=api.admin).json()["items"] == []


def test_identities_are_unique_deployment_wide(api: Api) -> None:
    api.create_person(externalUserId="u1", emails=["a@x.io"], phones=["+385911234567"])
    for body in (
        {"externalUserId": "u1"},
        {"externalUserId": "u2", "emails": ["A@x.io"]},
        {"externalUserId": "u3", "phones": ["385911234567"]},
    ):
        response = api.client.post("/v1/persons", json=body, headers=api.admin)
        assert_error(response, 409, "USER_MERGE_INTERRUPTED")
    other = api.create_person(externalUserId="u2")
    response = api.client.patch(
        f"/v1/persons/{other['id']}", json={"emails": ["a@x.io"]}, headers=api.admin
    )
    assert_error(response, 409, "USER_MERGE_INTERRUPTED")
    assert api.person(other["id"])["emails"] == []


def test_patch_merges_and_null_deletes(api: Api) -> None:
    api.define_attribute("plan", "string")
    api.define_attribute("score", "number")
    person = api.create_person(
        externalUserId="u1", firstName="Ann", customAttributes={"plan": "gold", "score": 1}
    )
    url = f"/v1/persons/{person['id']}"
    body = api.client.patch(
        url,
        json={"lastName": "Lee", "customAttributes": {"score": None}, "emails": ["ann@x.io"]},
        headers=api.admin,
    ).json()
    assert body["firstName"] == "Ann" and body["lastName"] == "Lee"
    assert body["customAttributes"] == {"plan": "gold"}
    assert body["emails"] == ["ann@x.io"]
    body = api.client.patch(url, json={"firstName": None, "emails": []}, headers=api.admin).json()
    assert body["firstName"] is None and body["emails"] == []
    response = api.client.patch(
        url, json={"customAttributes": {"score": "high"}}, headers=api.admin
    )
    assert_error(response, 400, "INVALID_CUSTOM_ATTRIBUTE", "customAttributes.score")
    assert api.person(person["id"])["customAttributes"] == {"plan": "gold"}
    assert_error(
        api.client.patch("/v1/persons/nope", json={}, headers=api.admin), 404, "PERSON_NOT_FOUND"
    )


def test_tags_add_remove_and_counts(api: Api) -> None:
    person = api.create_person(externalUserId="u1", tags=["a"])
    url = f"/v1/persons/{person['id']}/tags"
    body = api.client.post(url, json={"add": ["b", "c"], "remove": ["a"]}, headers=api.admin).json()
    assert body["tags"] == ["b", "c"]
    assert api.client.get(url, headers=api.admin).json() == {"tags": ["b", "c"]}
    assert api.client.delete(f"{url}/b", headers=api.admin).status_code == 204
    api.create_person(externalUserId="u2", tags=["c", "d"])
    tags = api.client.get("/v1/tags", headers=api.admin).json()["items"]
    assert tags == [{"tag": "c", "count": 2}, {"tag": "d", "count": 1}]
    too_many = {"add": [f"t{i}" for i in range(100)]}
    assert_error(
        api.client.post(url, json=too_many, headers=api.admin), 400, "VALIDATION_ERROR", "tags"
    )


def test_list_filters_and_pagination(api: Api, shop: dict) -> None:
    a = api.create_person(externalUserId="a", tags=["vip"])
    b = api.create_person(externalUserId="b")
    anonymous = api.register(shop)["personId"]

    def ids(**params: Any) -> list[str]:
        found: list[str] = []
        cursor = None
        while True:
            query = params | ({"cursor": cursor} if cursor else {})
            body = api.client.get("/v1/persons", params=query, headers=api.admin).json()
            found += [p["id"] for p in body["items"]]
            cursor = body["nextCursor"]
            if cursor is None:
                return sorted(found)

    assert ids(limit=1) == sorted([a["id"], b["id"], anonymous])
    assert ids(type="IDENTIFIED") == sorted([a["id"], b["id"]])
    assert ids(type="ANONYMOUS") == [anonymous]
    assert ids(tag="vip") == [a["id"]]
    assert ids(externalUserId="b") == [b["id"]]
    assert ids(updatedSince="2999-01-01T00:00:00Z") == []
    assert len(ids(updatedSince=a["createdAt"])) == 3
    assert_error(
        api.client.get("/v1/persons", params={"type": "ROBOT"}, headers=api.admin),
        400,
        "VALIDATION_ERROR",
        "type",
    )
    assert_error(
        api.client.get("/v1/persons", params={"updatedSince": "soon"}, headers=api.admin),
        400,
        "VALIDATION_ERROR",
        "updatedSince",
    )


def test_lookup_by_each_identity(api: Api) -> None:
    person = api.create_person(externalUserId="Case", emails=["ann@x.io"], phones=["+385911234567"])
    for params in (
        {"externalUserId": "Case"},
        {"email": " ANN@x.io"},
        {"phone": "+385 91 123 4567"},
    ):
        response = api.client.get("/v1/persons/lookup", params=params, headers=api.admin)
        assert response.status_code == 200, params
        assert response.json()["id"] == person["id"]
    for params in ({"externalUserId": "case"}, {"email": "bob@x.io"}):
        response = api.client.get("/v1/persons/lookup", params=params, headers=api.admin)
        assert_error(response, 404, "PERSON_NOT_FOUND")
    assert_error(api.client.get("/v1/persons/lookup", headers=api.admin), 400, "VALIDATION_ERROR")
    assert_error(
        api.client.get("/v1/persons/lookup", params={"phone": "x"}, headers=api.admin),
        400,
        "PHONE_INVALID",
    )


def test_person_permissions(api: Api) -> None:
    reader = api.key("reader", "read")
    assert_error(
        api.client.post("/v1/persons", json={"externalUserId": "u"}, headers=reader),
        403,
        "FORBIDDEN",
    )
    assert_error(api.client.get("/v1/persons"), 401, "UNAUTHORIZED")
    assert api.client.get("/v1/persons", headers=reader).status_code == 200


def test_a_persons_devices_are_listed_in_pages(api: Api, shop: dict) -> None:
    first = api.register(shop)
    person_id = first["personId"]
    api.personalize(shop, first, {"externalUserId": "pager"})
    second = api.register(shop)
    api.personalize(shop, second, {"externalUserId": "pager"})
    url = f"/v1/persons/{person_id}/installations"
    page_one = api.client.get(url, params={"limit": 1}, headers=api.admin).json()
    assert len(page_one["items"]) == 1 and page_one["nextCursor"]
    page_two = api.client.get(
        url, params={"limit": 1, "cursor": page_one["nextCursor"]}, headers=api.admin
    ).json()
    assert len(page_two["items"]) == 1 and page_two["nextCursor"] is None
    ids = {page_one["items"][0]["pushRegistrationId"], page_two["items"][0]["pushRegistrationId"]}
    assert ids == {first["pushRegistrationId"], second["pushRegistrationId"]}
