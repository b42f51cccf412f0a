"""Mobile API about people: personalize, depersonalize, the own person and its devices.

A call acts as its own installation (``{id}``, checked against the application code) and may
reach only that installation's person and the person's other installations.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query
from sqlalchemy import Connection, Row

from audience.auth.dependencies import Db, MobileApp
from audience.auth.principals import AppPrincipal
from audience.auth.user_jwt import verify_user_token
from audience.clock import utcnow
from audience.db import Database
from audience.errors import InstallationUninstalled
from audience.installations import service as installations
from audience.installations.schemas import Installation
from audience.models import Page, answers
from audience.persons import service
from audience.persons.audit import Audit, installation_source
from audience.persons.personalize import depersonalize, personalize, require_identity
from audience.persons.routes import write_identities
from audience.persons.schemas import Person, PersonalizeRequest, PersonUpdate, PrimaryDevice

router = APIRouter(prefix="/v1/installations/{push_registration_id}", tags=["mobile persons"])
UserToken = Annotated[str | None, Header(alias="X-User-Token")]


def _caller_and_person(db: Database, app: AppPrincipal, push_registration_id: str) -> Row:
    with db.read() as conn:
        caller = installations.get_app_installation(conn, app, push_registration_id)
        return service.get_person(conn, caller.person_id)


def _check_token(db: Database, app: AppPrincipal, token: str | None, person: Row) -> None:
    """Identified persons need the user's JWT when the app requires it (docs/api.md,
    Authentication)."""
    if person.type == "IDENTIFIED":
        verify_user_token(db, app, token, person.external_user_id)


def _audit(push_registration_id: str) -> Audit:
    return Audit(installation_source(push_registration_id), utcnow())


def _other_device(conn: Connection, person_id: str, other_id: str) -> Row:
    """Another installation of the same person: anything else is reported as unknown."""
    other = installations.get_installation(conn, other_id, for_update=True)
    if other.person_id != person_id:
        raise installations.no_registration(other_id)
    if other.uninstalled_at is not None:
        raise InstallationUninstalled(f"Installation '{other_id}' is uninstalled")
    return other


@router.post("/personalize", **answers(Person))
def personalize_installation(
    push_registration_id: str,
    body: PersonalizeRequest,
    app: MobileApp,
    db: Db,
    user_token: UserToken = None,
    force_depersonalize: Annotated[bool, Query(alias="forceDepersonalize")] = False,
    set_device_as_primary: Annotated[bool, Query(alias="setDeviceAsPrimary")] = False,
) -> dict[str, Any]:
    with db.read() as conn:
        installations.get_app_installation(conn, app, push_registration_id)
    identity = service.read_identity(body.user_identity.sent(), "userIdentity.")
    require_identity(identity)  # before the user token: a 400 names the bad request first
    verify_user_token(db, app, user_token, identity.external_user_id)
    attributes = body.user_attributes.sent() if body.user_attributes else None
    force = force_depersonalize or bool(body.force_depersonalize)
    primary = set_device_as_primary or bool(body.set_device_as_primary)

    def work(conn: Connection) -> dict[str, Any]:
        caller = installations.get_app_installation(conn, app, push_registration_id, True)
        person = personalize(
            conn, app, caller, identity, attributes, force, primary, _audit(push_registration_id)
        )
        return service.person_to_api(conn, person)

    return write_identities(db, work)


@router.post("/depersonalize", **answers(Installation))
def depersonalize_installation(push_registration_id: str, app: MobileApp, db: Db) -> dict[str, Any]:
    with db.write() as conn:
        caller = installations.get_app_installation(conn, app, push_registration_id, True)
        row = depersonalize(conn, caller, app.application_code, _audit(push_registration_id))
        return installations.installation_to_api(row)


@router.get("/person", **answers(Person))
def read_own_person(
    push_registration_id: str, app: MobileApp, db: Db, user_token: UserToken = None
) -> dict[str, Any]:
    person = _caller_and_person(db, app, push_registration_id)
    _check_token(db, app, user_token, person)
    with db.read() as conn:
        return service.person_to_api(conn, service.get_person(conn, person.id))


@router.patch("/person", **answers(Person))
def update_own_person(
    push_registration_id: str,
    body: PersonUpdate,
    app: MobileApp,
    db: Db,
    user_token: UserToken = None,
) -> dict[str, Any]:
    _check_token(db, app, user_token, _caller_and_person(db, app, push_registration_id))
    fields = body.sent()

    def work(conn: Connection) -> dict[str, Any]:
        caller = installations.get_app_installation(conn, app, push_registration_id, True)
        row = service.get_person(conn, caller.person_id, for_update=True)
        row = service.update_person(conn, row, fields, _audit(push_registration_id))
        return service.person_to_api(conn, row)

    return write_identities(db, work)


@router.get("/person/installations", **answers(Page[Installation]))
def own_person_installations(
    push_registration_id: str, app: MobileApp, db: Db, user_token: UserToken = None
) -> dict[str, Any]:
    """The person's live installations (of every app); push tokens stay on the server."""
    person = _caller_and_person(db, app, push_registration_id)
    _check_token(db, app, user_token, person)
    with db.read() as conn:
        rows = installations.queries.live_for_person(conn, person.id)
    items = []
    for row in rows:
        item = installations.installation_to_api(row)
        item.pop("pushServiceToken")
        items.append(item)
    return {"items": items, "nextCursor": None}


@router.post("/person/installations/{other_id}/depersonalize", **answers(Installation))
def depersonalize_other_installation(
    push_registration_id: str, other_id: str, app: MobileApp, db: Db, user_token: UserToken = None
) -> dict[str, Any]:
    person = _caller_and_person(db, app, push_registration_id)
    _check_token(db, app, user_token, person)
    with db.write() as conn:
        caller = installations.get_app_installation(conn, app, push_registration_id)
        other = _other_device(conn, caller.person_id, other_id)
        row = depersonalize(conn, other, other.application_code, _audit(push_registration_id))
        return installations.installation_to_api(row)


@router.patch("/person/installations/{other_id}", **answers(Installation))
def update_other_installation(
    push_registration_id: str, other_id: str, body: PrimaryDevice, app: MobileApp, db: Db
) -> dict[str, Any]:
    """R5 from another device of the same person: ``{"isPrimaryDevice": true}``."""
    with db.write() as conn:
        caller = installations.get_app_installation(conn, app, push_registration_id)
        other = _other_device(conn, caller.person_id, other_id)
        row = installations.set_primary(conn, other, body.is_primary_device)
        return installations.installation_to_api(row)
