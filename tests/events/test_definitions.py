from typing import Any

import pytest

from tests.events.conftest import Events
from tests.helpers import Api, assert_error


def test_create_read_list_update(api: Api) -> None:
    created = api.client.post(
        "/v1/event-definitions",
        json={
            "id": "purchase",
            "description": "A completed order",
            "properties": {
                "amount": "number",
                "sku": "string",
                "gift": "boolean",
                "deliveryDay": "date",
                "paidAt": "datetime",
            },
        },
        headers=api.admin,
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["id"] == "purchase" and body["active"] is True
    assert body["properties"]["paidAt"] == "datetime"
    assert body["createdAt"].endswith("Z") and body["updatedAt"] == body["createdAt"]
    read = api.client.get("/v1/event-definitions/purchase", headers=api.admin)
    assert read.status_code == 200 and read.json() == body

    bare = api.client.post("/v1/event-definitions", json={"id": "Open1"}, headers=api.admin)
    assert bare.status_code == 201
    assert bare.json()["properties"] == {} and bare.json()["description"] is None

    listed = api.client.get("/v1/event-definitions", headers=api.admin).json()
    assert [d["id"] for d in listed["items"]] == ["Open1", "purchase"]
    assert listed["nextCursor"] is None

    updated = api.client.patch(
        "/v1/event-definitions/purchase",
        json={"description": "Order", "properties": {"amount": "number"}, "active": False},
        headers=api.admin,
    )
    assert updated.status_code == 200
    changed = updated.json()
    assert changed["description"] == "Order" and changed["active"] is False
    assert changed["properties"] == {"amount": "number"}
    assert api.client.get("/v1/event-definitions/purchase", headers=api.admin).json() == changed
    only_active = api.client.get(
        "/v1/event-definitions", params={"active": "true"}, headers=api.admin
    ).json()["items"]
    assert [d["id"] for d in only_active] == ["Open1"]


def test_list_pagination(api: Api, ev: Events) -> None:
    for index in range(5):
        ev.define(f"e{index}")
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = api.client.get("/v1/event-definitions", params=params, headers=api.admin).json()
        seen += [d["id"] for d in page["items"]]
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert seen == ["e0", "e1", "e2", "e3", "e4"]


def test_duplicate_id_conflicts(api: Api, ev: Events) -> None:
    ev.define("purchase", amount="number")
    again = api.client.post("/v1/event-definitions", json={"id": "purchase"}, headers=api.admin)
    assert_error(again, 409, "DEFINITION_EXISTS", "id")


@pytest.mark.parametrize(
    "name",
    [
        "AppLaunch",
        "Install",
        "Uninstall",
        "Personalize",
        "Depersonalize",
        "SegmentEntered",
        "SegmentLeft",
        "applaunch",
    ],
)
def test_standard_event_names_are_reserved(api: Api, name: str) -> None:
    response = api.client.post("/v1/event-definitions", json={"id": name}, headers=api.admin)
    assert_error(response, 400, "VALIDATION_ERROR", "id")
    assert api.client.get(f"/v1/event-definitions/{name}", headers=api.admin).status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"id": "a-b"}, "id"),
        ({"id": ""}, "id"),
        ({"id": "x" * 37}, "id"),
        ({"id": "ok", "properties": {"Amount": "number"}}, "properties"),
        ({"id": "ok", "properties": {"1st": "number"}}, "properties"),
        ({"id": "ok", "properties": {"a" * 129: "number"}}, "properties"),
        ({"id": "ok", "properties": {"amount": "money"}}, "properties.amount"),
        ({"id": "ok", "properties": {"items": "list"}}, "properties.items"),
        ({"id": "ok", "properties": {f"p{i}": "string" for i in range(121)}}, "properties"),
        ({"id": "ok", "active": "yes"}, "active"),
        ({"id": "ok", "colour": "red"}, "colour"),
    ],
)
def test_definition_validation(api: Api, body: dict, field: str) -> None:
    response = api.client.post("/v1/event-definitions", json=body, headers=api.admin)
    assert_error(response, 400, "VALIDATION_ERROR")
    assert response.json()["error"]["field"].startswith(field)
    assert api.client.get("/v1/event-definitions", headers=api.admin).json()["items"] == []


def test_property_name_limits_accepted(api: Api) -> None:
    properties = {f"_p{i}": "string" for i in range(119)} | {"a" + "B" * 127: "number"}
    response = api.client.post(
        "/v1/event-definitions", json={"id": "wide", "properties": properties}, headers=api.admin
    )
    assert response.status_code == 201, response.text
    assert len(response.json()["properties"]) == 120


def test_update_and_read_errors(api: Api, ev: Events) -> None:
    missing = api.client.get("/v1/event-definitions/nope", headers=api.admin)
    assert_error(missing, 404, "NOT_FOUND")
    patch_missing = api.client.patch(
        "/v1/event-definitions/nope", json={"active": False}, headers=api.admin
    )
    assert_error(patch_missing, 404, "NOT_FOUND")
    ev.define("purchase", amount="number")
    for body, field in (
        ({"active": None}, "active"),
        ({"properties": None}, "properties"),
        ({"id": "other"}, "id"),
        ({"properties": {"amount": "money"}}, "properties.amount"),
    ):
        response = api.client.patch("/v1/event-definitions/purchase", json=body, headers=api.admin)
        assert_error(response, 400, "VALIDATION_ERROR", field)
    assert api.client.get("/v1/event-definitions/purchase", headers=api.admin).json()[
        "properties"
    ] == {"amount": "number"}


def test_scopes(api: Api, ev: Events, shop: dict) -> None:
    reader = api.key("reader", "read")
    denied = api.client.post("/v1/event-definitions", json={"id": "x"}, headers=reader)
    assert_error(denied, 403, "FORBIDDEN")
    writer = api.key("writer", "write")
    assert (
        api.client.post("/v1/event-definitions", json={"id": "x"}, headers=writer).status_code
        == 201
    )
    assert api.client.get("/v1/event-definitions/x", headers=reader).status_code == 200
    as_app = api.client.get("/v1/event-definitions", headers=api.mobile(shop))
    assert_error(as_app, 403, "FORBIDDEN")
    assert_error(api.client.get("/v1/event-definitions"), 401, "UNAUTHORIZED")


def test_openapi_lists_the_event_endpoints(api: Api) -> None:
    paths = api.client.get("/openapi.json").json()["paths"]
    batch = paths["/v1/installations/{push_registration_id}/events"]["post"]
    schema = batch["requestBody"]["content"]["application/json"]["schema"]
    assert "events" in schema["properties"]
    for path in ("/v1/event-definitions", "/v1/persons/{person_id}/events"):
        assert path in paths


def test_a_property_a_segment_filters_on_keeps_its_type(api: Api, ev: Events) -> None:
    """A saved rule was checked against the property's type and every write re-evaluates it:
    the type cannot change under it (a restarted worker would otherwise fail every write)."""
    ev.define("purchase", amount="number", sku="string")
    rule = {"event": "purchase", "where": [{"property": "amount", "op": "gt", "value": 10}]}
    segment = api.client.post(
        "/v1/segments", json={"name": "Big spenders", "rule": rule}, headers=api.admin
    )
    assert segment.status_code == 201, segment.text

    def patch(properties: dict[str, str]) -> Any:
        return api.client.patch(
            "/v1/event-definitions/purchase", json={"properties": properties}, headers=api.admin
        )

    for refused in ({"amount": "string", "sku": "string"}, {"sku": "string"}):
        response = patch(refused)
        assert_error(response, 409, "DEFINITION_IN_USE", "properties.amount")
        assert segment.json()["id"] in response.json()["error"]["message"]
    unchanged = api.client.get("/v1/event-definitions/purchase", headers=api.admin).json()
    assert unchanged["properties"] == {"amount": "number", "sku": "string"}
    # what no rule filters on may change, and properties may be added
    assert patch({"amount": "number", "sku": "number", "qty": "number"}).status_code == 200
    # once no segment uses it, the property is free
    deleted = api.client.delete(f"/v1/segments/{segment.json()['id']}", headers=api.admin)
    assert deleted.status_code == 204, deleted.text
    assert patch({"amount": "string"}).json()["properties"] == {"amount": "string"}
