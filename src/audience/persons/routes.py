"""Server API for persons: ``/v1/persons`` and ``/v1/tags``."""

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Query, Response
from fastapi.responses import StreamingResponse
from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from audience.attributes.values import InvalidValue, parse_datetime
from audience.auth.dependencies import Db, ReadKey, WriteKey
from audience.clock import utcnow
from audience.db import ConcurrentChange, Database
from audience.errors import PersonNotFound, validation_error
from audience.installations import queries as installation_queries
from audience.installations.schemas import Installation
from audience.installations.service import installation_to_api
from audience.models import Page, answers
from audience.pagination import (
    DEFAULT_LIMIT,
    Cursor,
    Limit,
    decode_after,
    page,
    page_in_memory,
)
from audience.persons import export, queries, service
from audience.persons.audit import Audit, change_to_api
from audience.persons.identities import normalize_email, normalize_phone
from audience.persons.ordering import update_person_in_order
from audience.persons.schemas import (
    Change,
    Person,
    PersonCreate,
    PersonTags,
    PersonUpdate,
    TagChanges,
    TagCount,
)

router = APIRouter(tags=["persons"])
T = TypeVar("T")


def write_identities(db: Database, work: Callable[[Connection], T], pipelined: bool = False) -> T:
    """A write that may claim identity values: a lost race answers 409, never 500
    (``pipelined``: the mobile calls, see ``Database.write``)."""
    try:
        return db.write_retrying(work, pipelined=pipelined)
    except (IntegrityError, ConcurrentChange):
        raise service.identity_taken(
            "An identity in the request belongs to another person"
        ) from None


@router.post("/v1/persons", **answers(Person, 201))
def create_person(body: PersonCreate, key: WriteKey, db: Db) -> dict[str, Any]:
    fields = body.sent()

    def work(conn: Connection) -> dict[str, Any]:
        row = service.create_person(conn, fields, Audit(key.source, utcnow()))
        return service.person_to_api(conn, row)

    return write_identities(db, work)


def _since(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_datetime(value)
    except InvalidValue as exc:
        raise validation_error(f"updatedSince: {exc}", "updatedSince") from None


@router.get("/v1/persons", **answers(Page[Person]))
def list_persons(
    _key: ReadKey,
    db: Db,
    type: Literal["ANONYMOUS", "IDENTIFIED"] | None = None,
    tag: Annotated[str | None, Query(max_length=255)] = None,
    external_user_id: Annotated[str | None, Query(alias="externalUserId", max_length=256)] = None,
    updated_since: Annotated[str | None, Query(alias="updatedSince")] = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> dict[str, Any]:
    after = decode_after(cursor)
    with db.read() as conn:
        rows = queries.list_persons(
            conn,
            type_=type,
            tag=tag,
            external_user_id=external_user_id,
            updated_since=_since(updated_since),
            after_id=after,
            limit=limit,
        )
        return page(rows, limit, lambda row: [row.id], lambda row: service.person_to_api(conn, row))


@router.get("/v1/persons/lookup", **answers(Person))
def lookup_person(
    _key: ReadKey,
    db: Db,
    external_user_id: Annotated[str | None, Query(alias="externalUserId", max_length=256)] = None,
    email: Annotated[str | None, Query(max_length=255)] = None,
    phone: Annotated[str | None, Query(max_length=64)] = None,
) -> dict[str, Any]:
    given = [
        (k, v)
        for k, v in (("externalUserId", external_user_id), ("email", email), ("phone", phone))
        if v is not None
    ]
    if len(given) != 1:
        raise validation_error("Give exactly one of externalUserId, email and phone")
    kind, value = given[0]
    if kind == "email":
        value = normalize_email(value, "email")
    elif kind == "phone":
        value = normalize_phone(value, "phone")
    with db.read() as conn:
        person_id = queries.find_by_identity(conn, kind, value)
        if person_id is None:
            raise PersonNotFound(f"No person with this {kind}")
        return service.person_to_api(conn, service.get_person(conn, person_id))


@router.get("/v1/persons/{person_id}", **answers(Person))
def read_person(person_id: str, _key: ReadKey, db: Db) -> dict[str, Any]:
    with db.read() as conn:
        return service.person_to_api(conn, service.get_person(conn, person_id))


@router.patch("/v1/persons/{person_id}", **answers(Person))
def update_person(person_id: str, body: PersonUpdate, key: WriteKey, db: Db) -> dict[str, Any]:
    fields = body.sent()

    def work(conn: Connection) -> dict[str, Any]:
        row = service.get_person(conn, person_id, for_update=True)
        return update_person_in_order(conn, row, fields, Audit(key.source, utcnow()))

    return write_identities(db, work)


@router.delete("/v1/persons/{person_id}", status_code=204)
def delete_person(person_id: str, key: WriteKey, db: Db) -> Response:
    def work(conn: Connection) -> None:
        row = service.get_person(conn, person_id, for_update=True)
        service.delete_person(conn, row, Audit(key.source, utcnow()))

    db.write_retrying(work)
    return Response(status_code=204)


@router.get("/v1/persons/{person_id}/tags", **answers(PersonTags))
def read_tags(person_id: str, _key: ReadKey, db: Db) -> dict[str, list[str]]:
    with db.read() as conn:
        return {"tags": queries.tags_of(conn, service.get_person(conn, person_id).id)}


@router.post("/v1/persons/{person_id}/tags", **answers(Person))
def change_tags(person_id: str, body: TagChanges, key: WriteKey, db: Db) -> dict[str, Any]:
    """``{"add": [...], "remove": [...]}``; answers the person."""
    with db.write() as conn:
        row = service.get_person(conn, person_id, for_update=True)
        row = service.update_person(conn, row, {"tags": body}, Audit(key.source, utcnow()))
        return service.person_to_api(conn, row)


@router.delete("/v1/persons/{person_id}/tags/{tag}", status_code=204)
def remove_tag(person_id: str, tag: str, key: WriteKey, db: Db) -> Response:
    with db.write() as conn:
        row = service.get_person(conn, person_id, for_update=True)
        service.update_person(conn, row, {"tags": {"remove": [tag]}}, Audit(key.source, utcnow()))
    return Response(status_code=204)


@router.get("/v1/persons/{person_id}/installations", **answers(Page[Installation]))
def person_installations(
    person_id: str,
    _key: ReadKey,
    db: Db,
    include_uninstalled: Annotated[bool, Query(alias="includeUninstalled")] = False,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> dict[str, Any]:
    """A person's devices, by pushRegistrationId (a person holds few, so paged in memory)."""
    with db.read() as conn:
        row = service.get_person(conn, person_id)
        if include_uninstalled:
            devices = installation_queries.all_for_person(conn, row.id)
        else:
            devices = installation_queries.live_for_person(conn, row.id)
    return page_in_memory(
        devices, lambda d: str(d.push_registration_id), cursor, limit, installation_to_api
    )


@router.get("/v1/persons/{person_id}/changes", **answers(Page[Change]))
def person_changes(
    person_id: str, _key: ReadKey, db: Db, cursor: Cursor = None, limit: Limit = DEFAULT_LIMIT
) -> dict[str, Any]:
    """The audit trail, newest first; a deleted person's id still shows that it was deleted."""
    before = decode_after(cursor, int)
    with db.read() as conn:
        resolved = queries.resolve_person_id(conn, person_id)
        ids = queries.profile_ids(conn, resolved) if resolved else [person_id]
        rows = queries.list_changes(conn, ids, before, limit)
        if resolved is None and not rows and before is None:
            raise service.person_not_found(person_id)
    return page(rows, limit, lambda row: [row.id], change_to_api)


@router.get(
    "/v1/persons/{person_id}/export",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/json": {"schema": export.SCHEMA}}}},
)
def export_person(person_id: str, _key: ReadKey, db: Db) -> StreamingResponse:
    """Everything stored about the person as one JSON document, streamed (R10)."""
    with db.read() as conn:
        service.get_person(conn, person_id)  # 404 before the answer starts
    return StreamingResponse(export.export_chunks(db, person_id), media_type="application/json")


@router.get("/v1/tags", **answers(Page[TagCount]))
def list_tags(
    _key: ReadKey, db: Db, cursor: Cursor = None, limit: Limit = DEFAULT_LIMIT
) -> dict[str, Any]:
    after = decode_after(cursor)
    with db.read() as conn:
        rows = queries.tag_counts(conn, after, limit)
    return page(
        rows, limit, lambda row: [row.tag], lambda row: {"tag": row.tag, "count": row.count}
    )
