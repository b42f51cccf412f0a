"""Fixtures for flows: a small driver over the real API plus the worker, run explicitly."""

from typing import Any

import pytest
from sqlalchemy import update

from audience.clock import utcnow
from audience.config import Settings
from audience.tables import outbox
from audience.worker import drain
from tests.helpers import Api


class Flows:
    def __init__(self, api: Api, settings: Settings) -> None:
        self.api = api
        self.settings = settings
        self.app = api.create_app("Shop")
        response = api.client.post(
            "/v1/event-definitions",
            json={"id": "purchase", "properties": {"amount": "number", "sku": "string"}},
            headers=api.admin,
        )
        assert response.status_code == 201, response.text

    def create(self, **definition: Any) -> dict[str, Any]:
        body = {"name": "Flow", **definition}
        response = self.api.client.post("/v1/flows", json=body, headers=self.api.admin)
        assert response.status_code == 201, response.text
        flow: dict[str, Any] = response.json()
        return flow

    def device(self) -> tuple[str, str]:
        """A new installation: (pushRegistrationId, personId)."""
        installation = self.api.register(self.app)
        return installation["pushRegistrationId"], installation["personId"]

    def send(self, push_registration_id: str, *events: dict[str, Any]) -> Any:
        return self.api.client.post(
            f"/v1/installations/{push_registration_id}/events",
            json={"events": list(events)},
            headers=self.api.mobile(self.app),
        )

    def purchase(self, push_registration_id: str, amount: float = 20) -> None:
        response = self.send(
            push_registration_id, {"definitionId": "purchase", "properties": {"amount": amount}}
        )
        assert response.status_code == 200, response.text

    def work(self) -> None:
        """Let the worker do everything that is due now."""
        drain(self.api.db, self.settings)

    def time_passes(self) -> None:
        """Every pending timer comes due (a wait of any length has passed)."""
        with self.api.db.write() as conn:
            conn.execute(update(outbox).values(available_at=utcnow()))
        self.work()

    def runs(self, flow_id: str) -> list[dict[str, Any]]:
        response = self.api.client.get(f"/v1/flows/{flow_id}/runs", headers=self.api.admin)
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        return items

    def person_runs(self, person_id: str) -> list[dict[str, Any]]:
        response = self.api.client.get(f"/v1/persons/{person_id}/flow-runs", headers=self.api.admin)
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        return items


@pytest.fixture
def flows(api: Api, settings: Settings) -> Flows:
    return Flows(api, settings)
