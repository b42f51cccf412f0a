"""Mobile API about people: personalize, depersonalize, the own person and its devices.

A call acts as its own installation (``{id}``, checked against the application code) and may
reach only that installation's person and the person's other installations.
"""

from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse
from sqlalchemy import Connection, Row

from audience import configuration
from audience.auth.dependencies import Db, MobileApp, authenticate, mobile_app, mobile_inputs
from audience.auth.principals import AppPrincipal
from audience.auth.user_jwt import UserToken as VerifiedUser
from audience.auth.user_jwt import read_user_token
from audience.bare_routes import bare_route, documented, parse_body, query_flag, respond
from audience.clock import utcnow
from audience.db import ConcurrentChange, Database
from audience.errors import ApiError, InstallationUninstalled
from audience.installations import service as installations
from audience.installations.schemas import Installation
from audience.models import Page, answers
from audience.pagination import DEFAULT_LIMIT, Cursor, Limit, page_in_memory
from audience.persons import protection, queries, service
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


def _lock_own_person(conn: Connection, caller: Row, push_registration_id: str) -> Row:
    """The caller's person, locked; the installation was read without a lock and is checked
    again once the person is locked (persons before installations, one lock order). A move in
    between is a concurrent change, and the unit of work runs again. (SQLite: one writer, so
    nothing moves in between.)"""
    # An installation's person is live (merges move installations): no merge to follow.
    person = queries.find(conn, caller.person_id, for_update=True)
    if person is None:
        person = service.get_person(conn, caller.person_id, for_update=True)
    if conn.dialect.name != "sqlite":
        again = installations.queries.find_key(conn, push_registration_id)
        if again is None or again.person_id != person.id:
            raise ConcurrentChange()
    return person


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


def _mobile_person(
    conn: Connection,
    app: AppPrincipal,
    row: Row,
    identities: dict[str, list[str]] | None = None,
    live: list[Any] | None = None,
    tags: list[str] | None = None,
) -> dict[str, Any]:
    """A person as a mobile call sees it: other applications' codes are not shown (§10)."""
    body = service.person_to_api(conn, row, identities, live, tags)
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


def _user_for(db: Database, authorization: str | None, token: str | None) -> VerifiedUser:
    """The request's user token, read before the call's work (it spends its ``jti`` in a
    transaction of its own); without one, nothing to read and no lookup of the app."""
    if not token:
        return VerifiedUser(None)
    return read_user_token(db, mobile_app(authenticate(db, authorization)), token)


@bare_route(
    router,
    "POST",
    "/personalize",
    **answers(Person),
    openapi_extra=documented(
        query=("forceDepersonalize", "setDeviceAsPrimary"),
        headers=("X-User-Token",),
        body=PersonalizeRequest,
    ),
)
async def personalize_installation(request: Request) -> JSONResponse:
    """Link the installation to the person identified by ``userIdentity`` (R2).
    \f
    A mobile hot path: a bare handler (``audience.bare_routes``)."""
    return await respond(
        request,
        _personalize_call,
        request,
        request.headers.get("authorization"),
        request.path_params["push_registration_id"],
        await request.body(),
    )


def _personalize_call(
    db: Database, request: Request, authorization: str | None, push_registration_id: str,
    raw: bytes,
) -> dict[str, Any]:
    def parse() -> tuple[PersonalizeRequest, bool, bool]:
        body = parse_body(PersonalizeRequest, raw)
        force = query_flag(request, "forceDepersonalize") or bool(body.force_depersonalize)
        primary = query_flag(request, "setDeviceAsPrimary") or bool(body.set_device_as_primary)
        return body, force, primary

    body, force, primary = mobile_inputs(db, authorization, parse)
    try:
        return _personalize(
            db,
            authorization,
            push_registration_id,
            body,
            request.headers.get("x-user-token"),
            force,
            primary,
        )
    except ApiError as error:
        if 400 <= error.status < 500:
            person_id = _refused_person(db, authorization, push_registration_id)
            if person_id is not None:
                record_refusal(db, person_id, _audit(push_registration_id), error)
        raise


def _refused_person(db: Database, authorization: str | None, push_registration_id: str) -> Any:
    """The person of the caller's own live installation, whose audit records a refused
    personalize; None when the refusal was about the caller or its installation."""
    with db.read() as conn:
        try:
            app, row = installations.mobile_call(conn, db, authorization, push_registration_id)
            return installations.check_app_installation(row, app.id, push_registration_id).person_id
        except ApiError:
            return None


def _personalize(
    db: Database,
    authorization: str | None,
    push_registration_id: str,
    body: PersonalizeRequest,
    user_token: str | None,
    force: bool,
    primary: bool,
) -> dict[str, Any]:
    identity = service.read_identity(body.user_identity.sent(), "userIdentity.")
    require_identity(identity)  # before the user token: a 400 names the bad request first
    user = _user_for(db, authorization, user_token)
    attributes = body.user_attributes.sent() if body.user_attributes else None

    def work(conn: Connection) -> dict[str, Any]:
        configuration.preload(conn)
        app, row = installations.mobile_call(conn, db, authorization, push_registration_id, True)
        if app.require_user_jwt:
            user.require(identity.external_user_id)
        caller = installations.check_app_installation(row, app.id, push_registration_id)
        person, identities, tags, live = personalize(
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
        return _mobile_person(conn, app, person, identities, live, tags)

    return write_identities(db, work, pipelined=True)


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
        live = installations.queries.live_summaries_for_person(conn, person.id)
        protection.check_access(conn, app, user, person, live)
        return _mobile_person(conn, app, person, live=live)


@bare_route(
    router,
    "PATCH",
    "/person",
    **answers(Person),
    openapi_extra=documented(headers=("X-User-Token",), body=PersonUpdate),
)
async def update_own_person(request: Request) -> JSONResponse:
    """Update the caller's own person.
    \f
    A mobile hot path: a bare handler (``audience.bare_routes``)."""
    return await respond(
        request,
        _update_own_person,
        request.headers.get("authorization"),
        request.path_params["push_registration_id"],
        request.headers.get("x-user-token"),
        await request.body(),
    )


def _update_own_person(
    db: Database,
    authorization: str | None,
    push_registration_id: str,
    user_token: str | None,
    raw: bytes,
) -> dict[str, Any]:
    fields = mobile_inputs(db, authorization, lambda: parse_body(PersonUpdate, raw).sent())
    user = _user_for(db, authorization, user_token)

    def work(conn: Connection) -> dict[str, Any]:
        configuration.preload(conn)
        app, row = installations.mobile_call(conn, db, authorization, push_registration_id)
        caller = installations.check_app_installation(row, app.id, push_registration_id)
        person = _lock_own_person(conn, caller, push_registration_id)
        # Read once for the protection check and the answer (an update moves no device).
        live = installations.queries.live_summaries_for_person(conn, person.id)
        protection.check_access(conn, app, user, person, live)
        return update_person_in_order(
            conn,
            person,
            dict(fields),
            _audit(push_registration_id),
            render=lambda updated: _mobile_person(conn, app, updated, live=live),
        )

    return write_identities(db, work, pipelined=True)


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
