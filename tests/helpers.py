"""Helpers shared by the tests: HTTP factories and error assertions."""

from typing import Any

from fastapi.testclient import TestClient

from audience.auth.service import create_key
from audience.db import Database

ADMIN_KEY_NAME = "test-admin"


def auth(credential: str) -> dict[str, str]:
    return {"Authorization": f"App {credential}"}


class Api:
    """Small factories over the real HTTP API, so tests read as the steps a user takes."""

    def __init__(self, client: TestClient, db: Database) -> None:
        self.client = client
        self.db = db
        with db.write() as conn:
            self.admin_key = create_key(conn, ADMIN_KEY_NAME, ["admin"])["key"]
        self.admin = auth(self.admin_key)

    def key(self, name: str, *scopes: str) -> dict[str, str]:
        response = self.client.post(
            "/v1/api-keys", json={"name": name, "scopes": list(scopes)}, headers=self.admin
        )
        assert response.status_code == 201, response.text
        return auth(response.json()["key"])

    def create_app(self, name: str = "Shop", **fields: Any) -> dict[str, Any]:
        response = self.client.post("/v1/apps", json={"name": name, **fields}, headers=self.admin)
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    def mobile(self, app: dict[str, Any]) -> dict[str, str]:
        return auth(app["applicationCode"])

    def register(self, app: dict[str, Any], **fields: Any) -> dict[str, Any]:
        body = {"platform": "Android", **fields}
        response = self.client.post("/v1/installations", json=body, headers=self.mobile(app))
        assert response.status_code == 201, response.text
        installation: dict[str, Any] = response.json()
        return installation

    def define_attribute(self, name: str, type_: str, scope: str = "person") -> None:
        response = self.client.post(
            "/v1/attribute-definitions",
            json={"name": name, "type": type_, "scope": scope},
            headers=self.admin,
        )
        assert response.status_code == 201, response.text

    def personalize(
        self,
        app: dict[str, Any],
        installation: dict[str, Any],
        identity: dict[str, Any],
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        **body: Any,
    ) -> Any:
        """POST personalize; answers the raw response (tests check errors too)."""
        return self.client.post(
            f"/v1/installations/{installation['pushRegistrationId']}/personalize",
            json={"userIdentity": identity, **body},
            params=params or {},
            headers=self.mobile(app) | (headers or {}),
        )

    def person(self, person_id: str) -> dict[str, Any]:
        response = self.client.get(f"/v1/persons/{person_id}", headers=self.admin)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def create_person(self, **fields: Any) -> dict[str, Any]:
        response = self.client.post("/v1/persons", json=fields, headers=self.admin)
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    def events_of(self, person_id: str, **params: Any) -> list[dict[str, Any]]:
        response = self.client.get(
            f"/v1/persons/{person_id}/events", params=params, headers=self.admin
        )
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        return items


def assert_error(response: Any, status: int, code: str, field: str | None = None) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code, error
    assert isinstance(error["message"], str) and error["message"]
    if field is not None:
        assert error.get("field") == field, error
