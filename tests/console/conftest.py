"""Console fixtures: sign in through the real form and keep the page's CSRF token."""

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from audience.app import create_app
from audience.config import Settings
from audience.db import Database
from tests.helpers import Api

CSRF = re.compile(r'data-csrf="([^"]+)"')


class Console:
    """A browser-like client of the console: cookie jar, CSRF token from the last page."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.csrf = ""

    def sign_in(self, key: str) -> Any:
        response = self.client.post("/console/login", data={"api_key": key}, follow_redirects=False)
        assert response.status_code == 303, response.text
        page = self.client.get("/console")
        assert page.status_code == 200, page.text
        match = CSRF.search(page.text)
        assert match is not None
        self.csrf = match.group(1)
        return response

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.client.get(path, **kwargs)

    def post(self, path: str, data: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        body = {"csrf_token": self.csrf, **(data or {})}
        return self.client.post(path, data=body, follow_redirects=False, **kwargs)


@pytest.fixture
def console_client(db: Database, settings: Settings) -> Any:
    with TestClient(
        create_app(settings, db), raise_server_exceptions=True, base_url="http://testserver"
    ) as test_client:
        yield test_client


@pytest.fixture
def console(console_client: TestClient) -> Console:
    return Console(console_client)


def raw_key(headers: dict[str, str]) -> str:
    return headers["Authorization"].removeprefix("App ")


@pytest.fixture
def admin_console(api: Api, console: Console) -> Console:
    console.sign_in(api.admin_key)
    return console
