"""Factories for push tests: credentials, devices, messages, and running the worker."""

from datetime import timedelta
from typing import Any

from sqlalchemy import update

from audience.clock import utcnow
from audience.config import Settings
from audience.db import Database
from audience.tables import outbox
from audience.worker import drain
from tests.helpers import Api
from tests.push.fakes import Keys, Servers, pem

PROJECT = "demo-project"
BUNDLE = "com.example.shop"


def service_account(keys: Keys, servers: Servers) -> dict[str, Any]:
    return {
        "type": "service_account",
        "project_id": PROJECT,
        "private_key_id": "key-1",
        "private_key": pem(keys.rsa_key),
        "client_email": "push@demo-project.iam.gserviceaccount.com",
        "token_uri": f"{servers.http_url}/token",
    }


def apns_fields(keys: Keys) -> dict[str, Any]:
    return {
        "keyId": "ABC123DEFG",
        "teamId": "TEAM123456",
        "bundleId": BUNDLE,
        "privateKey": pem(keys.ec_key),
        "environment": "sandbox",
    }


def set_up_push(api: Api, app: dict[str, Any], keys: Keys, servers: Servers) -> None:
    response = api.client.put(
        f"/v1/apps/{app['id']}/push/fcm",
        json={"serviceAccount": service_account(keys, servers)},
        headers=api.admin,
    )
    assert response.status_code == 200, response.text
    response = api.client.put(
        f"/v1/apps/{app['id']}/push/apns", json=apns_fields(keys), headers=api.admin
    )
    assert response.status_code == 200, response.text


def device(api: Api, app: dict[str, Any], token: str | None, **fields: Any) -> dict[str, Any]:
    """A registered installation: Android/FCM unless ``platform="iOS"`` (then APNs)."""
    platform = fields.pop("platform", "Android")
    service = "APNS" if platform == "iOS" else "Firebase"
    if token is not None:
        fields |= {"pushServiceToken": token, "pushServiceType": service}
    return api.register(app, platform=platform, **fields)


def send(api: Api, app: dict[str, Any], audience: dict[str, Any], **fields: Any) -> str:
    body = {
        "applicationCode": app["applicationCode"],
        "audience": audience,
        "notification": {"title": "Hello", "body": "Sale today"},
        **fields,
    }
    response = api.client.post("/v1/messages", json=body, headers=api.admin)
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "queued"
    return str(response.json()["id"])


def message(api: Api, message_id: str) -> dict[str, Any]:
    response = api.client.get(f"/v1/messages/{message_id}", headers=api.admin)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def deliveries(api: Api, message_id: str) -> list[dict[str, Any]]:
    response = api.client.get(
        f"/v1/messages/{message_id}/deliveries", params={"limit": 1000}, headers=api.admin
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def run_worker(db: Database, settings: Settings) -> None:
    drain(db, settings, timeout=60)


def make_everything_due(db: Database) -> None:
    """Skip the clock forward: every waiting outbox item (retry, sendAt) is due now."""
    with db.write() as conn:
        conn.execute(update(outbox).values(available_at=utcnow() - timedelta(seconds=1)))
