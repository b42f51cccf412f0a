"""Fixtures and small factories for the event tests."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from httpx import Response

from tests.helpers import Api

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
