"""``/v1/webhooks`` endpoints: create (secret once), read, list, patch, delete, rotate; types,
URLs and private addresses checked with the SPEC codes."""

import base64
from typing import Any

import pytest
from fastapi.testclient import TestClient

from audience.app import create_app
from audience.config import Settings
from audience.db import Database
from tests.helpers import Api
from tests.webhooks.conftest import create_webhook

URL = "https://hooks.example.com/audience"


def test_create_answers_the_secret_once(api: Api) -> None:
    created = create_webhook(api, URL, ["Install", "person.updated"])
    assert created["url"] == URL
    assert created["types"] == ["Install", "person.updated"]
    assert created["enabled"] is True
    assert created["createdAt"].endswith("Z")
    assert created["secret"].startswith("whsec_")
    assert len(base64.b64decode(created["secret"][len("whsec_") :])) >= 24
    read = api.client.get(f"/v1/webhooks/{created['id']}", headers=api.admin).json()
    assert "secret" not in read
    listed = api.client.get("/v1/webhooks", headers=api.admin).json()
    assert [item["id"] for item in listed["items"]] == [created["id"]]
    assert "secret" not in listed["items"][0]
    assert listed["nextCursor"] is None


def test_patch_rotate_and_delete(api: Api) -> None:
    created = create_webhook(api, URL, ["*"], description="crm")
    path = f"/v1/webhooks/{created['id']}"
    patched = api.client.patch(
        path, json={"enabled": False, "types": ["Uninstall"]}, headers=api.admin
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["enabled"] is False
    assert patched.json()["types"] == ["Uninstall"]
    assert patched.json()["description"] == "crm"
    rotated = api.client.post(f"{path}/secret", headers=api.admin)
    assert rotated.status_code == 200
    assert rotated.json()["secret"].startswith("whsec_")
    assert rotated.json()["secret"] != created["secret"]
    assert api.client.delete(path, headers=api.admin).status_code == 204
    missing = api.client.get(path, headers=api.admin)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "WEBHOOK_NOT_FOUND"


def test_custom_event_types_must_be_defined(api: Api) -> None:
    response = api.client.post(
        "/v1/webhooks", json={"url": URL, "types": ["Install", "purchase"]}, headers=api.admin
    )
    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": "VALIDATION_ERROR",
        "message": "Unknown type 'purchase'",
        "field": "types.1",
    }
    api.client.post(
        "/v1/event-definitions", json={"id": "purchase", "properties": {}}, headers=api.admin
    )
    assert create_webhook(api, URL, ["purchase", "SegmentEntered"])["types"] == [
        "purchase",
        "SegmentEntered",
    ]


@pytest.mark.parametrize(
    "body",
    [
        {"url": "ftp://example.com/x", "types": ["*"]},
        {"url": "not a url", "types": ["*"]},
        {"url": "https://", "types": ["*"]},
        {"url": URL, "types": []},
        {"url": URL, "types": ["*"], "extra": 1},
        {"url": URL, "types": ["*"], "enabled": "yes"},
    ],
)
def test_bad_requests_are_validation_errors(api: Api, body: dict[str, Any]) -> None:
    response = api.client.post("/v1/webhooks", json=body, headers=api.admin)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
    ],
)
def test_private_addresses_are_refused(db: Database, settings: Settings, url: str) -> None:
    strict = settings.model_copy(update={"webhook_allow_private": False})
    with TestClient(create_app(strict, db)) as client:
        api = Api(client, db)
        response = client.post("/v1/webhooks", json={"url": url, "types": ["*"]}, headers=api.admin)
        assert response.status_code == 400, response.text
        assert response.json()["error"]["code"] == "WEBHOOK_URL_FORBIDDEN"
        assert response.json()["error"]["field"] == "url"
        patched = client.patch("/v1/webhooks/x", json={"url": url}, headers=api.admin)
        assert patched.status_code == 404


def test_writing_needs_the_write_scope(api: Api) -> None:
    reader = api.key("reader", "read")
    response = api.client.post("/v1/webhooks", json={"url": URL, "types": ["*"]}, headers=reader)
    assert response.status_code == 403
    assert api.client.get("/v1/webhooks", headers=reader).status_code == 200
