"""Push credentials (SPEC §13): stored encrypted, never echoed, refused without a secret key."""

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from audience.app import create_app
from audience.config import Settings
from audience.db import Database
from audience.tables import push_credentials
from tests.helpers import Api, assert_error
from tests.push.fakes import Keys, Servers
from tests.push.helpers import apns_fields, service_account


def test_credentials_are_stored_encrypted_and_never_echoed(
    api: Api, shop: dict[str, Any], keys: Keys, servers: Servers, db: Database
) -> None:
    account = service_account(keys, servers)
    fcm = api.client.put(
        f"/v1/apps/{shop['id']}/push/fcm", json={"serviceAccount": account}, headers=api.admin
    )
    apns = api.client.put(
        f"/v1/apps/{shop['id']}/push/apns", json=apns_fields(keys), headers=api.admin
    )
    assert fcm.status_code == 200 and apns.status_code == 200
    assert fcm.json()["projectId"] == "demo-project"
    assert apns.json()["bundleId"] == "com.example.shop"
    summary = api.client.get(f"/v1/apps/{shop['id']}/push", headers=api.admin)
    assert summary.json()["fcm"]["configured"] and summary.json()["apns"]["configured"]
    for answer in (fcm.text, apns.text, summary.text):
        assert "PRIVATE KEY" not in answer and "privateKey" not in answer
    with db.read() as conn:
        stored = " ".join(row.secret for row in conn.execute(select(push_credentials)))
    assert "PRIVATE KEY" not in stored and "BEGIN" not in stored


def test_storing_credentials_without_a_secret_key_is_refused_clearly(
    db: Database, settings: Settings, keys: Keys, servers: Servers
) -> None:
    unset = settings.model_copy(update={"secret_key": ""})
    with TestClient(create_app(unset, db)) as client:
        api = Api(client, db)
        app = api.create_app("NoKey")
        response = client.put(
            f"/v1/apps/{app['id']}/push/fcm",
            json={"serviceAccount": service_account(keys, servers)},
            headers=api.admin,
        )
    assert_error(response, 409, "SECRET_KEY_REQUIRED")
    assert "AUDIENCE_SECRET_KEY" in response.json()["error"]["message"]


def test_invalid_credentials_are_400_naming_the_field(
    api: Api, shop: dict[str, Any], keys: Keys, servers: Servers
) -> None:
    account = service_account(keys, servers) | {"private_key": "not a key"}
    response = api.client.put(
        f"/v1/apps/{shop['id']}/push/fcm", json={"serviceAccount": account}, headers=api.admin
    )
    assert_error(response, 400, "VALIDATION_ERROR", "serviceAccount.private_key")
    account = service_account(keys, servers)
    del account["token_uri"]
    response = api.client.put(
        f"/v1/apps/{shop['id']}/push/fcm", json={"serviceAccount": account}, headers=api.admin
    )
    assert_error(response, 400, "VALIDATION_ERROR", "serviceAccount.token_uri")
    wrong_kind = apns_fields(keys) | {"privateKey": service_account(keys, servers)["private_key"]}
    response = api.client.put(
        f"/v1/apps/{shop['id']}/push/apns", json=wrong_kind, headers=api.admin
    )
    assert_error(response, 400, "VALIDATION_ERROR", "privateKey")
    response = api.client.put(
        f"/v1/apps/{shop['id']}/push/apns",
        json=apns_fields(keys) | {"environment": "staging"},
        headers=api.admin,
    )
    assert_error(response, 400, "VALIDATION_ERROR", "environment")


def test_credentials_need_an_admin_key_and_an_existing_app(
    api: Api, shop: dict[str, Any], keys: Keys
) -> None:
    writer = api.key("writer", "write")
    response = api.client.put(
        f"/v1/apps/{shop['id']}/push/apns", json=apns_fields(keys), headers=writer
    )
    assert response.status_code == 403
    response = api.client.put("/v1/apps/nope/push/apns", json=apns_fields(keys), headers=api.admin)
    assert response.status_code == 404
    deleted = api.client.delete(f"/v1/apps/{shop['id']}/push/apns", headers=api.admin)
    assert deleted.status_code == 204
