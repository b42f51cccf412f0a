"""The console's webhooks page: linked from the navigation; create (secret shown once),
disable, rotate the secret, see deliveries and redeliver one."""

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from audience.app import create_app
from audience.config import Settings
from audience.db import Database
from tests.console.conftest import Console
from tests.helpers import Api
from tests.webhooks.conftest import Receiver, deliveries, run_worker


@pytest.fixture
def admin_console(api: Api, db: Database, settings: Settings) -> Iterator[Console]:
    with TestClient(create_app(settings, db), base_url="http://testserver") as client:
        console = Console(client)
        console.sign_in(api.admin_key)
        yield console


def test_webhooks_page_manages_an_endpoint(
    api: Api,
    shop: dict[str, Any],
    db: Database,
    settings: Settings,
    receiver: Receiver,
    admin_console: Console,
) -> None:
    assert 'href="/console/webhooks"' in admin_console.get("/console").text
    created = admin_console.post(
        "/console/webhooks", {"url": receiver.url(), "types": "Install, person.updated"}
    )
    assert created.status_code == 200, created.text
    secret = re.search(r'data-testid="secret">(whsec_[^<]+)<', created.text)
    assert secret is not None
    [endpoint] = api.client.get("/v1/webhooks", headers=api.admin).json()["items"]
    assert endpoint["types"] == ["Install", "person.updated"]
    page = admin_console.get(f"/console/webhooks/{endpoint['id']}")
    assert secret.group(1) not in page.text  # shown once
    api.register(shop)
    run_worker(db, settings)
    [delivery] = deliveries(api, endpoint["id"])
    page = admin_console.get(f"/console/webhooks/{endpoint['id']}")
    assert f'data-delivery="{delivery["id"]}"' in page.text
    again = admin_console.post(
        f"/console/webhooks/{endpoint['id']}/deliveries/{delivery['id']}/retry"
    )
    assert again.status_code == 303
    run_worker(db, settings)
    assert len(receiver.at()) == 2
    rotated = admin_console.post(f"/console/webhooks/{endpoint['id']}/secret")
    assert "whsec_" in rotated.text and secret.group(1) not in rotated.text
    off = admin_console.post(f"/console/webhooks/{endpoint['id']}/enabled", {"enabled": "off"})
    assert off.status_code == 303
    assert (
        api.client.get(f"/v1/webhooks/{endpoint['id']}", headers=api.admin).json()["enabled"]
        is False
    )
    listing = admin_console.get("/console/webhooks")
    assert receiver.url() in listing.text and "disabled" in listing.text


def test_a_bad_endpoint_is_refused_with_a_message(admin_console: Console) -> None:
    response = admin_console.post("/console/webhooks", {"url": "ftp://x", "types": "*"})
    assert response.status_code == 303
    assert "error=" in response.headers["location"]
    assert admin_console.get("/console/webhooks/nope").status_code == 404
