from fastapi.testclient import TestClient

from audience.auth.service import ensure_bootstrap_key
from audience.db import Database
from tests.helpers import auth


def test_admin_key_from_environment_bootstraps_once_and_stays_revocable(
    client: TestClient, db: Database
) -> None:
    secret = "ak_bootstrap-secret-for-tests"
    with db.write() as conn:
        ensure_bootstrap_key(conn, secret)
    with db.write() as conn:
        ensure_bootstrap_key(conn, secret)  # idempotent
    keys = client.get("/v1/api-keys", headers=auth(secret)).json()["items"]
    assert [key["name"] for key in keys] == ["bootstrap-admin"]
    assert keys[0]["scopes"] == ["admin"]
    assert client.delete(f"/v1/api-keys/{keys[0]['id']}", headers=auth(secret)).status_code == 204
    with db.write() as conn:
        ensure_bootstrap_key(conn, secret)  # a revoked bootstrap key is not revived
    assert client.get("/v1/apps", headers=auth(secret)).status_code == 401
