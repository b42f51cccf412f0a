import pytest

from tests.helpers import Api, assert_error


def test_define_list_read_update(api: Api) -> None:
    response = api.client.post(
        "/v1/attribute-definitions",
        json={"name": "plan", "type": "string", "scope": "person", "description": "Plan"},
        headers=api.admin,
    )
    assert response.status_code == 201
    assert response.json()["name"] == "plan" and response.json()["scope"] == "person"
    api.define_attribute("darkMode", "boolean", "installation")
    listed = api.client.get("/v1/attribute-definitions", headers=api.admin).json()["items"]
    assert [d["name"] for d in listed] == ["darkMode", "plan"]
    only = api.client.get(
        "/v1/attribute-definitions", params={"scope": "installation"}, headers=api.admin
    ).json()["items"]
    assert [d["name"] for d in only] == ["darkMode"]
    updated = api.client.patch(
        "/v1/attribute-definitions/plan", json={"description": "New"}, headers=api.admin
    ).json()
    assert updated["description"] == "New" and updated["type"] == "string"
    assert api.client.get("/v1/attribute-definitions/plan", headers=api.admin).json() == updated


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "1abc", "type": "string", "scope": "person"}, "name"),
        ({"name": "a-b", "type": "string", "scope": "person"}, "name"),
        ({"name": "a" * 65, "type": "string", "scope": "person"}, "name"),
        ({"name": "ok", "type": "blob", "scope": "person"}, "type"),
        ({"name": "ok", "type": "string", "scope": "device"}, "scope"),
        ({"name": "ok", "type": "string"}, "scope"),
        ({"name": "ok", "type": "string", "scope": "person", "x": 1}, "x"),
    ],
)
def test_definition_validation(api: Api, body: dict, field: str) -> None:
    response = api.client.post("/v1/attribute-definitions", json=body, headers=api.admin)
    assert_error(response, 400, "VALIDATION_ERROR", field)


def test_list_type_is_person_scope_only(api: Api) -> None:
    response = api.client.post(
        "/v1/attribute-definitions",
        json={"name": "items", "type": "list", "scope": "installation"},
        headers=api.admin,
    )
    assert_error(response, 400, "VALIDATION_ERROR")


def test_duplicate_name_conflicts_and_unknown_is_404(api: Api) -> None:
    api.define_attribute("plan", "string")
    response = api.client.post(
        "/v1/attribute-definitions",
        json={"name": "plan", "type": "number", "scope": "installation"},
        headers=api.admin,
    )
    assert_error(response, 409, "DEFINITION_EXISTS", "name")
    assert_error(
        api.client.get("/v1/attribute-definitions/nope", headers=api.admin), 404, "NOT_FOUND"
    )
