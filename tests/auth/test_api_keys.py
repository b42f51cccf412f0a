from fastapi.testclient import TestClient
from sqlalchemy import select

from audience.db import Database
from audience.ids import hash_secret
from audience.tables import api_keys
from tests.helpers import Api, assert_error, auth


def test_create_returns_the_key_once_and_stores_only_its_hash(api: Api, db: Database) -> None:
    response = api.client.post(
        "/v1/api-keys", json={"name": "ci", "scopes": ["read"]}, headers=api.admin
    )
    assert response.status_code == 201
    created = response.json()
    assert created["key"].startswith("ak_")
    assert created["scopes"] == ["read"]
    with db.read() as conn:
        stored = conn.execute(select(api_keys).where(api_keys.c.id == created["id"])).one()
    assert stored.key_hash == hash_secret(created["key"])
    assert created["key"] not in {str(value) for value in stored}

    listed = api.client.get("/v1/api-keys", headers=api.admin).json()
    assert all("key" not in item for item in listed["items"])
    read = api.client.get(f"/v1/api-keys/{created['id']}", headers=api.admin).json()
    assert "key" not in read and read["name"] == "ci"


def test_missing_and_malformed_credentials_are_401(client: TestClient, api: Api) -> None:
    assert_error(client.get("/v1/apps"), 401, "UNAUTHORIZED")
    assert_error(client.get("/v1/apps", headers={"Authorization": "Bearer x"}), 401, "UNAUTHORIZED")
    assert_error(client.get("/v1/apps", headers=auth("ak_forged")), 401, "UNAUTHORIZED")
    assert_error(client.get("/v1/apps", headers=auth("nothex")), 401, "UNAUTHORIZED")


def test_read_key_cannot_write_and_write_key_cannot_administer(api: Api) -> None:
    reader = api.key("reader", "read")
    writer = api.key("writer", "write")
    assert api.client.get("/v1/apps", headers=reader).status_code == 200
    assert_error(api.client.post("/v1/apps", json={"name": "x"}, headers=reader), 403, "FORBIDDEN")
    assert_error(api.client.post("/v1/apps", json={"name": "x"}, headers=writer), 403, "FORBIDDEN")
    response = api.client.post(
        "/v1/attribute-definitions",
        json={"name": "plan", "type": "string", "scope": "person"},
        headers=reader,
    )
    assert_error(response, 403, "FORBIDDEN")
    assert_error(api.client.get("/v1/api-keys", headers=writer), 403, "FORBIDDEN")


def test_revoked_key_is_refused_at_once(api: Api) -> None:
    created = api.client.post(
        "/v1/api-keys", json={"name": "temp", "scopes": ["read"]}, headers=api.admin
    ).json()
    key = auth(created["key"])
    assert api.client.get("/v1/apps", headers=key).status_code == 200
    assert api.client.delete(f"/v1/api-keys/{created['id']}", headers=api.admin).status_code == 204
    assert_error(api.client.get("/v1/apps", headers=key), 401, "UNAUTHORIZED")
    read = api.client.get(f"/v1/api-keys/{created['id']}", headers=api.admin).json()
    assert read["revokedAt"].endswith("Z")


def test_key_validation_errors(api: Api) -> None:
    post = api.client.post
    assert_error(
        post("/v1/api-keys", json={"name": "k", "scopes": ["root"]}, headers=api.admin),
        400,
        "VALIDATION_ERROR",
        "scopes.0",
    )
    assert_error(
        post("/v1/api-keys", json={"name": "k", "scopes": []}, headers=api.admin),
        400,
        "VALIDATION_ERROR",
        "scopes",
    )
    assert_error(
        post("/v1/api-keys", json={"name": "k", "scopes": ["read"], "x": 1}, headers=api.admin),
        400,
        "VALIDATION_ERROR",
        "x",
    )
    assert_error(
        post("/v1/api-keys", json={"scopes": ["read"]}, headers=api.admin),
        400,
        "VALIDATION_ERROR",
        "name",
    )
    api.key("dup", "read")
    assert_error(
        post("/v1/api-keys", json={"name": "dup", "scopes": ["read"]}, headers=api.admin),
        409,
        "API_KEY_EXISTS",
        "name",
    )
    assert_error(api.client.delete("/v1/api-keys/nope", headers=api.admin), 404, "NOT_FOUND")


def test_api_key_list_paginates(api: Api) -> None:
    for i in range(5):
        api.key(f"k{i}", "read")
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        body = api.client.get("/v1/api-keys", params=params, headers=api.admin).json()
        seen += [item["id"] for item in body["items"]]
        cursor = body["nextCursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 6  # five plus the test admin key
    assert_error(
        api.client.get("/v1/api-keys", params={"limit": 0}, headers=api.admin),
        400,
        "VALIDATION_ERROR",
        "limit",
    )
    assert_error(
        api.client.get("/v1/api-keys", params={"limit": 1001}, headers=api.admin),
        400,
        "VALIDATION_ERROR",
        "limit",
    )
    assert_error(
        api.client.get("/v1/api-keys", params={"cursor": "!!"}, headers=api.admin),
        400,
        "VALIDATION_ERROR",
        "cursor",
    )


def test_application_code_is_not_a_server_key(api: Api, shop: dict) -> None:
    assert_error(api.client.get("/v1/apps", headers=api.mobile(shop)), 403, "FORBIDDEN")


def test_server_key_cannot_use_the_mobile_api(api: Api) -> None:
    response = api.client.post("/v1/installations", json={"platform": "iOS"}, headers=api.admin)
    assert_error(response, 403, "FORBIDDEN")
