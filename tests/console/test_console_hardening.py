"""Console hardening (issue 12 items 6 and 9): forged cookies are "not signed in", security
headers on every answer, no ``Origin: null``, CSRF on sign-out."""

import pytest

from tests.console.conftest import Console
from tests.helpers import Api


@pytest.mark.parametrize(
    "expires",
    ["9" * 5000, "\u00b2", "1\u0663", "-1", "", "1e9"],  # superscript two, Arabic-Indic three
)
def test_forged_cookies_mean_signed_out(api: Api, console: Console, expires: str) -> None:
    console.sign_in(api.admin_key)
    value = console.client.cookies["audience_console"]
    _version, key_id, _expires, signature = value.split(".")
    for forged in (
        f"v1.{key_id}.{expires}.{signature}",
        f"v1.{key_id}\u00e9.123.{signature}",
        f"v1.{key_id}.99999999999.{signature}\u00e9",
    ):
        console.client.cookies.clear()
        # raw bytes: browsers (and attackers) may send any octets in a cookie
        cookie = f"audience_console={forged}".encode()
        response = console.get("/console", headers={"Cookie": cookie}, follow_redirects=False)
        assert response.status_code == 303, (forged[:80], response.text[:200])
        json_headers = {"Cookie": cookie, "Accept": "application/json"}
        response = console.get("/console", headers=json_headers)
        assert response.status_code == 401, response.text[:200]


def test_security_headers_on_console_answers(api: Api, console: Console) -> None:
    for path in ("/console/login", "/console", "/console/static/console.css"):
        response = console.get(path, follow_redirects=False)
        assert response.headers["x-frame-options"] == "DENY", path
        policy = response.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "content-security-policy" not in api.client.get("/healthz").headers


def test_origin_null_is_refused(api: Api, console: Console) -> None:
    response = console.client.post(
        "/console/login",
        data={"api_key": api.admin_key},
        headers={"Origin": "null"},
        follow_redirects=False,
    )
    assert response.status_code == 403
    assert "audience_console" not in response.cookies


def test_sign_out_needs_the_csrf_token(admin_console: Console) -> None:
    response = admin_console.client.post("/console/logout", follow_redirects=False)
    assert response.status_code == 403
    assert admin_console.get("/console", follow_redirects=False).status_code == 200
    response = admin_console.post("/console/logout")
    assert response.status_code == 303
    assert admin_console.get("/console", follow_redirects=False).status_code == 303
