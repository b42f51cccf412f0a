"""Mobile API about people: personalize, depersonalize, the own person and its devices.

A call acts as its own installation (``{id}``, checked against the application code) and may
reach only that installation's person and the person's other installations.
"""

from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query
from sqlalchemy import Connection, Row

from audience.auth.dependencies import Db, MobileApp
from audience.auth.principals import AppPrincipal
from audience.auth.user_jwt import UserToken as VerifiedUser
from audience.auth.user_jwt import read_user_token
from audience.clock import utcnow
from audience.db import ConcurrentChange, Database
from audience.errors import ApiError, InstallationUninstalled
from audience.installations import service as installations
from audience.installations.schemas import Installation
from audience.models import Page, answers
from audience.pagination import DEFAULT_LIMIT, Cursor, Limit, page_in_memory
from audience.persons import protection, service
from audience.persons.audit import Audit, installation_source
from audience.persons.guardrails import record_refusal
from audience.persons.ordering import update_person_in_order
from audience.persons.personalize import depersonalize, personalize, require_identity
from audience.persons.routes import write_identities
from audience.persons.schemas import Person, PersonalizeRequest, PersonUpdate, PrimaryDevice

router = APIRouter(prefix="/v1/installations/{push_registration_id}", tags=["mobile persons"])
UserToken = Annotated[str | None, Header(alias="X-User-Token")]


def _user(db: Database, app: AppPrincipal, token: str | None) -> VerifiedUser:
    return read_user_token(db, app, token)


def _own_person(conn: Connection, app: AppPrincipal, push_registration_id: str, lock: bool) -> Row:
    """The caller's person, locked if asked. The installation is read without a lock and
    checked again once the person is locked (persons before installations, one lock order);
    a move in between is a concurrent change, and the unit of work runs again."""
    caller = installations.get_app_installation(conn, app, push_registration_id)
    person = service.get_person(conn, caller.person_id, for_update=lock)
    if lock:
        again = installations.get_app_installation(conn, app, push_registration_id)
        if again.person_id != person.id:
            raise ConcurrentChange()
    return person


def _mobile_person(conn: Connection, app: AppPrincipal, row: Row) -> dict[str, Any]:
    """A person as a mobile call sees it: other applications' codes are not shown (§10)."""
    body = service.person_to_api(conn, row)
    for summary in body["installations"]:
        if summary["applicationCode"] != app.application_code:
            summary["applicationCode"] = None
    return body


def _device_view(app: AppPrincipal, row: Row) -> dict[str, Any]:
    """Another device as a mobile call sees it: no push token, no other app's code (§10)."""
    item = installations.installation_to_api(row)
    item.pop("pushServiceToken")
    if item["applicationCode"] != app.application_code:
        item["applicationCode"] = None
    return item


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
        person_id = installations.get_app_installation(conn, app, push_registration_id).person_id
    try:
        return _personalize(
            push_registration_id,
            body,
            app,
            db,
            user_token,
            force_depersonalize,
            set_device_as_primary,
        )
    except ApiError as error:
        if 400 <= error.status < 500:
            record_refusal(db, person_id, _audit(push_registration_id), error)
        raise


def _personalize(
    push_registration_id: str,
    body: PersonalizeRequest,
    app: AppPrincipal,
    db: Database,
    user_token: str | None,
    force_depersonalize: bool,
    set_device_as_primary: bool,
) -> dict[str, Any]:
    identity = service.read_identity(body.user_identity.sent(), "userIdentity.")
    require_identity(identity)  # before the user token: a 400 names the bad request first
    user = _user(db, app, user_token)
    if app.require_user_jwt:
        user.require(identity.external_user_id)
    attributes = body.user_attributes.sent() if body.user_attributes else None
    force = force_depersonalize or bool(body.force_depersonalize)
    primary = set_device_as_primary or bool(body.set_device_as_primary)

    def work(conn: Connection) -> dict[str, Any]:
        caller = installations.get_app_installation(conn, app, push_registration_id, True)
        person = personalize(
            conn,
            app,
            caller,
            identity,
            attributes,
            force,
            primary,
            _audit(push_registration_id),
            lambda conn, target: protection.check_personalize_target(conn, app, user, target),
        )
        protection.after_personalize(conn, app, person.id)
        return _mobile_person(conn, app, service.get_person(conn, person.id))

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
    user = _user(db, app, user_token)
    with db.read() as conn:
        person = _own_person(conn, app, push_registration_id, lock=False)
        protection.check_access(conn, app, user, person)
        return _mobile_person(conn, app, person)


@router.patch("/person", **answers(Person))
def update_own_person(
    push_registration_id: str,
    body: PersonUpdate,
    app: MobileApp,
    db: Db,
    user_token: UserToken = None,
) -> dict[str, Any]:
    fields = body.sent()
    user = _user(db, app, user_token)

    def work(conn: Connection) -> dict[str, Any]:
        row = _own_person(conn, app, push_registration_id, lock=True)
        protection.check_access(conn, app, user, row)
        return update_person_in_order(
            conn,
            row,
            fields,
            _audit(push_registration_id),
            render=lambda updated: _mobile_person(conn, app, updated),
        )

    return write_identities(db, work)


@router.get("/person/installations", **answers(Page[Installation]))
def own_person_installations(
    push_registration_id: str,
    app: MobileApp,
    db: Db,
    user_token: UserToken = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> dict[str, Any]:
    """The person's live installations (of every app); push tokens stay on the server."""
    user = _user(db, app, user_token)
    with db.read() as conn:
        person = _own_person(conn, app, push_registration_id, lock=False)
        protection.check_access(conn, app, user, person)
        rows = installations.queries.live_for_person(conn, person.id)
    return page_in_memory(
        rows, lambda row: str(row.push_registration_id), cursor, limit, partial(_device_view, app)
    )


@router.post("/person/installations/{other_id}/depersonalize", **answers(Installation))
def depersonalize_other_installation(
    push_registration_id: str, other_id: str, app: MobileApp, db: Db, user_token: UserToken = None
) -> dict[str, Any]:
    user = _user(db, app, user_token)

    def work(conn: Connection) -> dict[str, Any]:
        person = _own_person(conn, app, push_registration_id, lock=True)
        protection.check_access(conn, app, user, person)
        other = _other_device(conn, person.id, other_id)
        row = depersonalize(conn, other, other.application_code, _audit(push_registration_id))
        return _device_view(app, row)

    return db.write_retrying(work)


@router.patch("/person/installations/{other_id}", **answers(Installation))
def update_other_installation(
    push_registration_id: str,
    other_id: str,
    body: PrimaryDevice,
    app: MobileApp,
    db: Db,
    user_token: UserToken = None,
) -> dict[str, Any]:
    """R5 from another device of the same person: ``{"isPrimaryDevice": true}``."""
    user = _user(db, app, user_token)

    def work(conn: Connection) -> dict[str, Any]:
        person = _own_person(conn, app, push_registration_id, lock=True)
        protection.check_access(conn, app, user, person)
        other = _other_device(conn, person.id, other_id)
        row = installations.set_primary(conn, other, body.is_primary_device)
        return _device_view(app, row)

    return db.write_retrying(work)
