"""Isolation: an app's credential reaches only its own installations; an installation only
itself, its person and that person's devices; keys only what their scope allows; secrets are
never shown again nor logged."""

import json
import logging

import pytest

from tests.helpers import Api, assert_error


def test_another_apps_code_reaches_nothing_of_this_app(api: Api, shop: dict) -> None:
    other = api.create_app("Other")
    installation = api.register(shop)
    api.personalize(shop, installation, {"externalUserId": "ann"})
    base = f"/v1/installations/{installation['pushRegistrationId']}"
    stranger = api.mobile(other)
    calls = [
        ("GET", base, None),
        ("PATCH", base, {"osVersion": "1"}),
        ("POST", f"{base}/personalize", {"userIdentity": {"externalUserId": "x"}}),
        ("POST", f"{base}/depersonalize", None),
        ("GET", f"{base}/person", None),
        ("PATCH", f"{base}/person", {"firstName": "x"}),
        ("GET", f"{base}/person/installations", None),
        ("POST", f"{base}/events", {"events": [{"definitionId": "AppLaunch"}]}),
    ]
    for method, path, body in calls:
        response = api.client.request(method, path, json=body, headers=stranger)
        assert_error(response, 404, "NO_REGISTRATION")
    person = api.client.get(f"{base}/person", headers=api.mobile(shop)).json()
    assert person["firstName"] is None and person["externalUserId"] == "ann"


def test_an_application_code_cannot_use_the_server_api(api: Api, shop: dict) -> None:
    installation = api.register(shop)
    code = api.mobile(shop)
    for method, path in [
        ("GET", "/v1/persons"),
        ("GET", f"/v1/persons/{installation['personId']}"),
        ("DELETE", f"/v1/installations/{installation['pushRegistrationId']}"),
        ("GET", "/v1/segments"),
        ("POST", "/v1/audiences/resolve"),
        ("GET", "/v1/api-keys"),
        ("GET", "/v1/event-definitions"),
    ]:
        response = api.client.request(method, path, json={}, headers=code)
        assert_error(response, 403, "FORBIDDEN")


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/v1/persons", {"externalUserId": "x"}),
        ("POST", "/v1/segments", {"name": "x", "rule": {"tag": "x"}}),
        ("POST", "/v1/event-definitions", {"id": "x"}),
        ("POST", "/v1/attribute-definitions", {"name": "x", "type": "string", "scope": "person"}),
        ("POST", "/v1/apps", {"name": "x"}),
        ("POST", "/v1/api-keys", {"name": "x", "scopes": ["read"]}),
    ],
)
def test_a_read_key_cannot_write(api: Api, method: str, path: str, body: dict) -> None:
    reader = api.key("reader", "read")
    assert_error(api.client.request(method, path, json=body, headers=reader), 403, "FORBIDDEN")


def test_read_key_cannot_write_person_data(api: Api, shop: dict) -> None:
    reader = api.key("reader", "read")
    person = api.create_person(externalUserId="ann")
    url = f"/v1/persons/{person['id']}"
    assert_error(api.client.patch(url, json={"firstName": "x"}, headers=reader), 403, "FORBIDDEN")
    assert_error(api.client.delete(url, headers=reader), 403, "FORBIDDEN")
    assert_error(
        api.client.post(f"{url}/tags", json={"add": ["x"]}, headers=reader), 403, "FORBIDDEN"
    )
    assert_error(
        api.client.post(f"{url}/events", json={"definitionId": "x"}, headers=reader),
        403,
        "FORBIDDEN",
    )
    assert api.person(person["id"])["firstName"] is None


def test_secrets_are_never_logged(api: Api, shop: dict, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    secure = api.create_app("Bank", requireUserJwt=True)
    created = api.client.post(
        "/v1/api-keys", json={"name": "k", "scopes": ["read"]}, headers=api.admin
    ).json()
    api.client.get("/v1/apps", headers={"Authorization": f"App {created['key']}"})
    api.register(shop)
    logged = "\n".join(
        json.dumps(getattr(record, "fields", {})) + record.getMessage() for record in caplog.records
    )
    for secret in (api.admin_key, created["key"], secure["jwtSecret"], shop["applicationCode"]):
        assert secret not in logged
