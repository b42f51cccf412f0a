"""Installation rules: register (R1), own-app access, primary device (R5), uninstall (R4)."""

import hmac
from types import SimpleNamespace
from typing import Any, Protocol, TypeVar

from pydantic.alias_generators import to_camel
from sqlalchemy import Connection, Row

from audience.attributes.service import apply_custom_attributes
from audience.auth.dependencies import authenticate, credential_of, mobile_app, mobile_app_in
from audience.auth.principals import AppPrincipal
from audience.clock import isoformat, utcnow
from audience.db import Database
from audience.errors import ApiError, InstallationUninstalled, NoRegistration, validation_error
from audience.events.standard import INSTALL, UNINSTALL, record_standard_event
from audience.ids import new_id
from audience.installations import queries

# Offered to the other features (they use installations only through this module).
from audience.installations.queries import all_for_person as all_for_person
from audience.installations.queries import live_for_person as live_for_person
from audience.installations.queries import live_summaries_for_person as live_summaries_for_person
from audience.installations.queries import move_to_person as move_to_person
from audience.installations.schemas import NOT_NULLABLE
from audience.persons.queries import insert_anonymous_person
from audience.segments.membership import refresh_person

FIELDS = (
    "platform",
    "sdk_version",
    "os_version",
    "device_manufacturer",
    "device_model",
    "application_version",
    "app_version",
    "os_language",
    "device_timezone_offset",
    "device_name",
    "push_service_type",
    "push_service_token",
    "push_registration_enabled",
    "registrations_enabled",
    "notifications_enabled",
    "geofencing_enabled",
    "device_secure",
    "is_primary_device",
)
_API_NAMES = {field: to_camel(field) for field in FIELDS}


def installation_to_api(row: Row) -> dict[str, Any]:
    body: dict[str, Any] = {
        "pushRegistrationId": row.push_registration_id,
        "applicationCode": row.application_code,
    }
    for field, api_name in _API_NAMES.items():
        body[api_name] = getattr(row, field)
    body["customAttributes"] = row.custom_attributes or {}
    body["personId"] = row.person_id
    body["createdAt"] = isoformat(row.created_at)
    body["updatedAt"] = isoformat(row.updated_at)
    body["uninstalledAt"] = isoformat(row.uninstalled_at)
    return body


def installation_summary(row: Row) -> dict[str, Any]:
    """The short form listed on a person (docs/api.md)."""
    return {
        "pushRegistrationId": row.push_registration_id,
        "applicationCode": row.application_code,
        "platform": row.platform,
        "isPrimaryDevice": row.is_primary_device,
        "deviceModel": row.device_model,
        "deviceManufacturer": row.device_manufacturer,
        "osVersion": row.os_version,
        "applicationVersion": row.application_version,
        "createdAt": isoformat(row.created_at),
        "updatedAt": isoformat(row.updated_at),
    }


def no_registration(push_registration_id: str) -> ApiError:
    return NoRegistration(f"No installation '{push_registration_id}'")


def get_installation(conn: Connection, push_registration_id: str, for_update: bool = False) -> Row:
    row = queries.find(conn, push_registration_id, for_update)
    if row is None:
        raise no_registration(push_registration_id)
    return row


def get_app_installation(
    conn: Connection, app: AppPrincipal, push_registration_id: str, for_update: bool = False
) -> Row:
    """The installation a mobile call acts as: of this app (else 404), live (else 410)."""
    return check_app_installation(
        queries.find(conn, push_registration_id, for_update), app.id, push_registration_id
    )


class OwnedInstallation(Protocol):
    """Any form of an installation row that says whose it is and whether it is live."""

    @property
    def application_id(self) -> str: ...

    @property
    def application_code(self) -> str: ...

    @property
    def uninstalled_at(self) -> Any: ...


InstallationRow = TypeVar("InstallationRow", bound=OwnedInstallation)


def check_app_installation(
    row: InstallationRow | None, app_id: str, push_registration_id: str
) -> InstallationRow:
    """``row`` if it is a live installation of application ``app_id``; else 404 or 410."""
    if row is None or row.application_id != app_id:
        # Another app's installation is reported exactly like a missing one: no existence leak.
        raise no_registration(push_registration_id)
    if row.uninstalled_at is not None:
        raise InstallationUninstalled(f"Installation '{push_registration_id}' is uninstalled")
    return row


def authorised_installation(
    db: Database,
    authorization: str | None,
    push_registration_id: str,
    installation: InstallationRow | None,
) -> InstallationRow:
    """``installation`` if the caller's credential may act as it (a live installation of the
    caller's own app); else the 401, 403, 404 or 410 of every mobile call.

    The application code is compared with the code of the installation's own application,
    which the installation lookup joins anyway: on the hot path authentication costs no query
    of its own. Any mismatch falls back to full authentication, so a bad credential, an API
    key or another app's code get exactly the answers of every mobile call.
    """
    if installation is not None and _is_own_code(installation, authorization):
        return check_app_installation(
            installation, installation.application_id, push_registration_id
        )
    app = mobile_app(authenticate(db, authorization))
    return check_app_installation(installation, app.id, push_registration_id)



def _is_own_code(row: OwnedInstallation | None, authorization: str | None) -> bool:
    """Whether the credential is the code of the installation's own application (401 for a
    missing or malformed header)."""
    token = credential_of(authorization)
    return row is not None and hmac.compare_digest(row.application_code.encode(), token.encode())


def mobile_call(
    conn: Connection,
    db: Database,
    authorization: str | None,
    push_registration_id: str,
    for_update: bool = False,
) -> tuple[AppPrincipal, Row | None]:
    """The calling application and the installation ``{id}`` of a mobile call, in the call's
    own transaction: when the credential is the code of the installation's application (the
    common case) both come from one lookup; otherwise the application is authenticated as
    usual (401/403). The installation is still to be checked (:func:`check_app_installation`)."""
    row = queries.find_mobile(conn, push_registration_id, for_update)
    if _is_own_code(row, authorization):
        app = AppPrincipal(
            row.application_id, row.application_code, bool(row.require_user_jwt), row.jwt_secret
        )
        return app, row
    return mobile_app_in(conn, db, authorization), row


def _column_values(conn: Connection, fields: dict[str, Any], current_custom: dict) -> dict:
    values: dict[str, Any] = {}
    for field, value in fields.items():
        if field == "custom_attributes":
            values[field] = apply_custom_attributes(
                conn, "installation", current_custom, value or {}
            )
        elif value is None and field in NOT_NULLABLE:
            raise validation_error(f"{_API_NAMES[field]} cannot be null", _API_NAMES[field])
        else:
            values[field] = value
    return values


def register(conn: Connection, app: AppPrincipal, fields: dict[str, Any]) -> Any:
    """R1: a new installation, a new anonymous person for it, and an ``Install`` event.
    Answers the installation as stored (its values, not read back: a mobile hot path)."""
    now = utcnow()
    values = {field: None for field in FIELDS} | _column_values(conn, fields, {})
    values["custom_attributes"] = values.get("custom_attributes") or {}
    for flag in ("push_registration_enabled", "registrations_enabled"):
        if values[flag] is None:
            values[flag] = True
    values["is_primary_device"] = bool(values["is_primary_device"])
    person_id = insert_anonymous_person(conn, now)
    row = SimpleNamespace(
        push_registration_id=new_id(),
        application_id=app.id,
        person_id=person_id,
        **values,
        created_at=now,
        updated_at=now,
    )
    queries.insert_installation(conn, **vars(row))
    row.application_code = app.application_code
    row.uninstalled_at = None
    record_standard_event(conn, INSTALL, row, app.application_code, person_id, now)
    refresh_person(conn, person_id, now)
    return row


def update_installation(conn: Connection, row: Any, fields: dict[str, Any]) -> Any:
    """Merge ``fields`` into the installation; setting it primary clears the person's others.
    Answers the installation as it now is (``row`` with the changes, not read back)."""
    values = _column_values(conn, fields, row.custom_attributes or {})
    if not values:
        return row
    now = utcnow()
    queries.update_installation(conn, row.push_registration_id, **values, updated_at=now)
    if values.get("is_primary_device") and row.person_id is not None:
        queries.clear_other_primaries(conn, row.person_id, row.push_registration_id)
    if row.person_id is not None:
        refresh_person(conn, row.person_id, now)
    current = row._asdict() if hasattr(row, "_asdict") else vars(row)
    return SimpleNamespace(**(current | values | {"updated_at": now}))


def set_primary(conn: Connection, row: Row, primary: bool) -> Row:
    return update_installation(conn, row, {"is_primary_device": primary})


def uninstall(conn: Connection, push_registration_id: str) -> None:
    """R4: a tombstone with ``uninstalledAt`` and an ``Uninstall`` event; repeating is a no-op."""
    row = get_installation(conn, push_registration_id, for_update=True)
    if row.uninstalled_at is not None:
        return
    now = utcnow()
    queries.update_installation(
        conn, push_registration_id, uninstalled_at=now, is_primary_device=False, updated_at=now
    )
    if row.person_id is not None:
        record_standard_event(conn, UNINSTALL, row, row.application_code, row.person_id, now)
        refresh_person(conn, row.person_id, now)
