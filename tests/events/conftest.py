"""Fixtures and small factories for the event tests."""

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from httpx import Response

from tests.helpers import Api
from tests.server import running_server

DEVICE = {
    "platform": "iOS",
    "sdkVersion": "12.1.0",
    "osVersion": "17.4",
    "deviceManufacturer": "Apple",
    "deviceModel": "iPhone 15",
    "applicationVersion": "3.2.1",
    "osLanguage": "en-GB",
}


def iso(at: datetime) -> str:
    """A client-side ISO 8601 time with a ``Z``, millisecond precision."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def ago(**delta: float) -> datetime:
    return datetime.now(UTC) - timedelta(**delta)


class Events:
    """The event calls a test makes, as the app (mobile) or as the server (API key)."""

    def __init__(self, api: Api, app: dict[str, Any]) -> None:
        self.api = api
        self.app = app

    def define(self, definition_id: str, **properties: str) -> dict[str, Any]:
        response = self.api.client.post(
            "/v1/event-definitions",
            json={"id": definition_id, "properties": properties},
            headers=self.api.admin,
        )
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    def send(
        self,
        installation: dict[str, Any],
        events: list[Any],
        app: dict[str, Any] | None = None,
        **params: Any,
    ) -> Response:
        return self.api.client.post(
            f"/v1/installations/{installation['pushRegistrationId']}/events",
            json={"events": events},
            params=params,
            headers=self.api.mobile(app or self.app),
        )

    def accept(self, installation: dict[str, Any], events: list[Any], **params: Any) -> dict:
        response = self.send(installation, events, **params)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def launch(self, installation: dict[str, Any], at: datetime, **extra: Any) -> dict:
        return self.accept(installation, [{"definitionId": "AppLaunch", "date": iso(at), **extra}])

    def record(self, person_id: str, event: dict[str, Any]) -> Response:
        return self.api.client.post(
            f"/v1/persons/{person_id}/events", json=event, headers=self.api.admin
        )


@pytest.fixture
def ev(api: Api, shop: dict[str, Any]) -> Events:
    return Events(api, shop)


@pytest.fixture
def device(api: Api, shop: dict[str, Any]) -> dict[str, Any]:
    return api.register(shop, **DEVICE)


class ServedInstallation:
    """One installation of a real 2-worker server, for races between simultaneous calls."""

    def __init__(self, client: httpx.Client, admin: str, code: str, installation: dict) -> None:
        self.client = client
        self.admin = {"Authorization": f"App {admin}"}
        self.mobile = {"Authorization": f"App {code}"}
        self.installation = installation

    def send_together(self, batches: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
        """Each batch from its own connection, all at once; every answer must be a 200."""
        path = f"/v1/installations/{self.installation['pushRegistrationId']}/events"

        def send(batch: list[dict[str, Any]]) -> dict[str, Any]:
            with httpx.Client(base_url=self.client.base_url, timeout=60) as own:
                response = own.post(path, json={"events": batch}, headers=self.mobile)
            assert response.status_code == 200, response.text
            body: dict[str, Any] = response.json()
            return body

        with ThreadPoolExecutor(max_workers=len(batches)) as pool:
            return list(pool.map(send, batches))

    def history(self, **params: str) -> list[dict[str, Any]]:
        response = self.client.get(
            f"/v1/persons/{self.installation['personId']}/events",
            params=params | {"limit": "1000"},
            headers=self.admin,
        )
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        return items


@contextmanager
def served_installation(
    database_url: str, prepare: Callable[[httpx.Client, dict[str, str]], None] | None = None
) -> Iterator[ServedInstallation]:
    admin = "ak_concurrent-events-test"
    env = {"AUDIENCE_DATABASE_URL": database_url, "AUDIENCE_ADMIN_KEY": admin}
    with running_server(env, workers=2) as base_url, httpx.Client(base_url=base_url) as client:
        admin_headers = {"Authorization": f"App {admin}"}
        app = client.post("/v1/apps", json={"name": "Shop"}, headers=admin_headers).json()
        if prepare is not None:
            prepare(client, admin_headers)
        mobile = {"Authorization": f"App {app['applicationCode']}"}
        installation = client.post("/v1/installations", json={"platform": "iOS"}, headers=mobile)
        yield ServedInstallation(client, admin, app["applicationCode"], installation.json())
