"""Push credentials per application (docs/push.md): checked, encrypted at rest, never echoed.

What is safe to show (project id, client email, key id, team, bundle, environment) is kept in
clear beside the encrypted secret part so reads and the console need no decryption.
"""

from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from sqlalchemy import Connection

from audience.apps.service import get_app
from audience.clock import isoformat
from audience.errors import validation_error
from audience.push import crypto, queries

FCM = "fcm"
APNS = "apns"
SERVICE_ACCOUNT_FIELDS = ("project_id", "private_key", "client_email", "token_uri")


@dataclass(frozen=True)
class FcmCredentials:
    project_id: str
    client_email: str
    token_uri: str
    private_key: str
    private_key_id: str | None


@dataclass(frozen=True)
class ApnsCredentials:
    key_id: str
    team_id: str
    bundle_id: str
    environment: str
    private_key: str


def _check_key(pem: str, kind: type, field: str, what: str) -> None:
    try:
        key = load_pem_private_key(pem.encode(), password=None)
    except Exception:  # ValueError, TypeError (encrypted), UnsupportedAlgorithm …
        raise validation_error(f"{field} is not a PEM private key", field) from None
    if not isinstance(key, kind):
        raise validation_error(f"{field} must be {what}", field)


def put_fcm(
    conn: Connection, secret_key: str, app_id: str, account: dict[str, Any]
) -> dict[str, Any]:
    get_app(conn, app_id)
    for name in SERVICE_ACCOUNT_FIELDS:
        if not isinstance(account.get(name), str) or not account[name]:
            raise validation_error(f"the service account needs '{name}'", f"serviceAccount.{name}")
    if not account["token_uri"].startswith(("https://", "http://")):
        raise validation_error("token_uri must be an http(s) URL", "serviceAccount.token_uri")
    _check_key(account["private_key"], rsa.RSAPrivateKey, "serviceAccount.private_key", "RSA")
    shown = {"projectId": account["project_id"], "clientEmail": account["client_email"]}
    secret = {name: account[name] for name in SERVICE_ACCOUNT_FIELDS}
    secret["private_key_id"] = account.get("private_key_id")
    queries.upsert_credentials(conn, app_id, FCM, shown, crypto.encrypt(secret_key, secret))
    return credentials_summary(conn, app_id)[FCM]


def put_apns(
    conn: Connection, secret_key: str, app_id: str, fields: dict[str, Any]
) -> dict[str, Any]:
    get_app(conn, app_id)
    _check_key(fields["private_key"], ec.EllipticCurvePrivateKey, "privateKey", "an EC (.p8) key")
    shown = {
        "keyId": fields["key_id"],
        "teamId": fields["team_id"],
        "bundleId": fields["bundle_id"],
        "environment": fields["environment"],
    }
    secret = {"private_key": fields["private_key"]}
    queries.upsert_credentials(conn, app_id, APNS, shown, crypto.encrypt(secret_key, secret))
    return credentials_summary(conn, app_id)[APNS]


def delete_credentials(conn: Connection, app_id: str, provider: str) -> None:
    get_app(conn, app_id)
    queries.delete_credentials(conn, app_id, provider)


def credentials_summary(conn: Connection, app_id: str) -> dict[str, Any]:
    """Which providers are set up for the application, with their public parts only."""
    get_app(conn, app_id)
    found: dict[str, Any] = {FCM: None, APNS: None}
    for row in queries.credentials_of(conn, app_id):
        found[row.provider] = {
            "configured": True,
            **row.settings,
            "updatedAt": isoformat(row.updated_at),
        }
    return found


def load_credentials(
    conn: Connection, secret_key: str, app_id: str
) -> tuple[FcmCredentials | None, ApnsCredentials | None]:
    """The decrypted credentials for sending (raises ``crypto.CredentialsUnreadable``)."""
    fcm: FcmCredentials | None = None
    apns: ApnsCredentials | None = None
    for row in queries.credentials_of(conn, app_id):
        secret = crypto.decrypt(secret_key, row.secret)
        if row.provider == FCM:
            fcm = FcmCredentials(
                project_id=secret["project_id"],
                client_email=secret["client_email"],
                token_uri=secret["token_uri"],
                private_key=secret["private_key"],
                private_key_id=secret.get("private_key_id"),
            )
        elif row.provider == APNS:
            apns = ApnsCredentials(
                key_id=row.settings["keyId"],
                team_id=row.settings["teamId"],
                bundle_id=row.settings["bundleId"],
                environment=row.settings["environment"],
                private_key=secret["private_key"],
            )
    return fcm, apns
