"""User JWTs for applications with requireUserJwt (SPEC §6)."""

import time
import uuid
from typing import Any

import jwt
import pytest

from tests.helpers import Api, assert_error


@pytest.fixture
def secure_app(api: Api) -> dict[str, Any]:
    return api.create_app("Bank", requireUserJwt=True)


def token(app: dict[str, Any], sub: str, lifetime: int = 300, **overrides: Any) -> str:
    now = int(time.time())
    claims = {"sub": sub, "iat": now, "exp": now + lifetime, "jti": uuid.uuid4().hex}
    claims.update(overrides)
    claims = {k: v for k, v in claims.items() if v is not None}
    secret = overrides.pop("secret", None) or app["jwtSecret"]
    return jwt.encode({k: v for k, v in claims.items() if k != "secret"}, secret, algorithm="HS256")


def header(value: str) -> dict[str, str]:
    return {"X-User-Token": value}


def test_personalize_needs_a_valid_token(api: Api, secure_app: dict) -> None:
    installation = api.register(secure_app)
    ident = {"externalUserId": "ann"}
    assert_error(api.personalize(secure_app, installation, ident), 401, "USER_JWT_REQUIRED")
    bad = [
        token(secure_app, "bob"),  # wrong subject
        token(secure_app, "ann", secret="forged-secret-" * 4),  # wrong signature
        token(secure_app, "ann", exp=int(time.time()) - 120),  # expired
        token(secure_app, "ann", lifetime=3600),  # lives longer than 15 min
        token(secure_app, "ann", jti=None),  # no jti
        "not-a-jwt",
    ]
    for value in bad:
        response = api.personalize(secure_app, installation, ident, headers=header(value))
        assert_error(response, 401, "USER_JWT_REQUIRED")
    assert api.person(installation["personId"])["type"] == "ANONYMOUS"
    good = token(secure_app, "ann")
    response = api.personalize(secure_app, installation, ident, headers=header(good))
    assert response.status_code == 200, response.text
    # the same token (jti) is refused the second time
    again = api.personalize(secure_app, installation, ident, headers=header(good))
    assert_error(again, 401, "USER_JWT_REQUIRED")


def test_identified_person_calls_need_the_token(api: Api, secure_app: dict) -> None:
    installation = api.register(secure_app)
    person_url = f"/v1/installations/{installation['pushRegistrationId']}/person"
    # an anonymous person needs no token
    assert api.client.get(person_url, headers=api.mobile(secure_app)).status_code == 200
    api.personalize(
        secure_app,
        installation,
        {"externalUserId": "ann"},
        headers=header(token(secure_app, "ann")),
    )
    calls = [
        ("GET", person_url, None),
        ("PATCH", person_url, {"firstName": "Ann"}),
        ("GET", f"{person_url}/installations", None),
    ]
    for method, path, body in calls:
        response = api.client.request(method, path, json=body, headers=api.mobile(secure_app))
        assert_error(response, 401, "USER_JWT_REQUIRED")
        response = api.client.request(
            method,
            path,
            json=body,
            headers=api.mobile(secure_app) | header(token(secure_app, "bob")),
        )
        assert_error(response, 401, "USER_JWT_REQUIRED")
        response = api.client.request(
            method,
            path,
            json=body,
            headers=api.mobile(secure_app) | header(token(secure_app, "ann")),
        )
        assert response.status_code == 200, (method, path, response.text)


def test_apps_without_the_setting_need_no_token(api: Api, shop: dict) -> None:
    installation = api.register(shop)
    assert api.personalize(shop, installation, {"externalUserId": "ann"}).status_code == 200
    person_url = f"/v1/installations/{installation['pushRegistrationId']}/person"
    assert api.client.get(person_url, headers=api.mobile(shop)).status_code == 200
