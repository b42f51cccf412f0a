from tests.helpers import Api, assert_error


def test_create_returns_code_and_secret_once(api: Api) -> None:
    created = api.create_app("Shop", requireUserJwt=True)
    assert len(created["applicationCode"]) == 64
    assert created["jwtSecret"]
    assert created["requireUserJwt"] is True
    assert created["createdAt"].endswith("Z")
    read = api.client.get(f"/v1/apps/{created['id']}", headers=api.admin).json()
    assert "jwtSecret" not in read
    assert read["applicationCode"] == created["applicationCode"]
    listed = api.client.get("/v1/apps", headers=api.admin).json()
    assert [app["id"] for app in listed["items"]] == [created["id"]]
    assert listed["nextCursor"] is None
    assert "jwtSecret" not in listed["items"][0]


def test_codes_are_unique_per_app(api: Api) -> None:
    codes = {api.create_app(f"app{i}")["applicationCode"] for i in range(5)}
    assert len(codes) == 5


def test_update_and_rotate_secret(api: Api) -> None:
    created = api.create_app("Shop")
    response = api.client.patch(
        f"/v1/apps/{created['id']}",
        json={"name": "Shop 2", "requireUserJwt": True},
        headers=api.admin,
    )
    assert response.status_code == 200
    assert response.json()["name"] == "Shop 2" and response.json()["requireUserJwt"] is True
    rotated = api.client.post(f"/v1/apps/{created['id']}/jwt-secret", headers=api.admin).json()
    assert rotated["jwtSecret"] != created["jwtSecret"]


def test_app_validation(api: Api) -> None:
    post = api.client.post
    assert_error(post("/v1/apps", json={}, headers=api.admin), 400, "VALIDATION_ERROR", "name")
    assert_error(
        post("/v1/apps", json={"name": ""}, headers=api.admin), 400, "VALIDATION_ERROR", "name"
    )
    assert_error(
        post("/v1/apps", json={"name": "x" * 256}, headers=api.admin),
        400,
        "VALIDATION_ERROR",
        "name",
    )
    assert_error(
        post("/v1/apps", json={"name": 5}, headers=api.admin), 400, "VALIDATION_ERROR", "name"
    )
    assert_error(
        post("/v1/apps", json={"name": "a", "requireUserJwt": "yes"}, headers=api.admin),
        400,
        "VALIDATION_ERROR",
        "requireUserJwt",
    )
    assert_error(
        post("/v1/apps", json={"name": "a", "owner": "me"}, headers=api.admin),
        400,
        "VALIDATION_ERROR",
        "owner",
    )
    response = post(
        "/v1/apps", content=b"{not json", headers=api.admin | {"Content-Type": "application/json"}
    )
    assert_error(response, 400, "VALIDATION_ERROR")
    assert_error(api.client.get("/v1/apps/nope", headers=api.admin), 404, "NOT_FOUND")
    assert_error(
        api.client.patch("/v1/apps/nope", json={"name": "x"}, headers=api.admin), 404, "NOT_FOUND"
    )
