"""Event endpoints: definitions (server), mobile ingestion, server-side events and history."""

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import Field, StringConstraints

from audience.attributes.values import InvalidValue, parse_datetime
from audience.auth.dependencies import Db, ReadKey, WriteKey
from audience.bare_routes import bare_route, parse_body, query_flag, respond
from audience.clock import to_naive_utc
from audience.db import Database
from audience.errors import validation_error
from audience.events import definitions, queries, service
from audience.events.schemas import Event, EventDefinition, IngestResult
from audience.models import ApiModel, Page, answers
from audience.pagination import DEFAULT_LIMIT, Cursor, Limit, decode_after, decode_cursor, page

definitions_router = APIRouter(prefix="/v1/event-definitions", tags=["event-definitions"])
events_router = APIRouter(prefix="/v1", tags=["events"])

PropertyName = Annotated[str, StringConstraints(pattern=definitions.PROPERTY_NAME_PATTERN)]
PropertyType = Literal["string", "number", "boolean", "date", "datetime"]
Properties = Annotated[
    dict[PropertyName, PropertyType], Field(max_length=definitions.MAX_PROPERTIES)
]
Description = Annotated[str | None, Field(max_length=1000)]


class EventDefinitionCreate(ApiModel):
    id: Annotated[str, Field(pattern=definitions.ID_PATTERN)]
    description: Description = None
    properties: Properties = Field(default_factory=dict)
    active: bool = True


class EventDefinitionUpdate(ApiModel):
    description: Description = None
    properties: Properties | None = None
    active: bool | None = None


class EventBatch(ApiModel):
    """Items are checked one by one (not here), so ``?validate=false`` can drop just the bad."""

    events: Annotated[list[Any], Field(min_length=1, max_length=1000)]


# --- definitions -------------------------------------------------------------------------------


@definitions_router.post("", **answers(EventDefinition, 201))
def create_event_definition(body: EventDefinitionCreate, _key: WriteKey, db: Db) -> dict[str, Any]:
    with db.write() as conn:
        row = definitions.create_definition(
            conn, body.id, body.description, dict(body.properties), body.active
        )
    return definitions.definition_to_api(row)


@definitions_router.get("", **answers(Page[EventDefinition]))
def list_event_definitions(
    _key: ReadKey,
    db: Db,
    active: bool | None = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> dict[str, Any]:
    after = decode_after(cursor)
    with db.read() as conn:
        rows = queries.list_definitions(conn, active, after, limit)
    return page(rows, limit, lambda row: [row.id], definitions.definition_to_api)


@definitions_router.get("/{definition_id}", **answers(EventDefinition))
def read_event_definition(definition_id: str, _key: ReadKey, db: Db) -> dict[str, Any]:
    with db.read() as conn:
        return definitions.definition_to_api(definitions.get_definition(conn, definition_id))


@definitions_router.patch("/{definition_id}", **answers(EventDefinition))
def update_event_definition(
    definition_id: str, body: EventDefinitionUpdate, _key: WriteKey, db: Db
) -> dict[str, Any]:
    changes = body.sent()
    for name in ("properties", "active"):
        if name in changes and changes[name] is None:
            raise validation_error(f"{name} cannot be null", name)
    with db.write() as conn:
        row = definitions.update_definition(conn, definition_id, changes)
    return definitions.definition_to_api(row)


# --- ingestion ---------------------------------------------------------------------------------


def _ingest(
    db: Database,
    authorization: str | None,
    push_registration_id: str,
    body: bytes,
    validate: bool,
) -> dict[str, Any]:
    """Everything blocking of one events call, run in one worker-thread hop."""
    try:
        batch = parse_body(EventBatch, body)
    except RequestValidationError:
        # who is asking comes first (401/403/404 before 400), as with every other endpoint
        with db.read() as conn:
            service.mobile_installation(conn, db, authorization, push_registration_id)
        raise
    result = service.ingest_mobile_events(
        db, authorization, push_registration_id, batch.events, validate
    )
    return result.to_api(list_invalid=not validate)


@bare_route(
    events_router,
    "POST",
    "/installations/{push_registration_id}/events",
    responses={200: {"model": IngestResult}},
    openapi_extra={
        # The handler takes the bare request (see below), so its parameters are declared here.
        "parameters": [
            {
                "name": "push_registration_id",
                "in": "path",
                "required": True,
                "schema": {"type": "string", "title": "Push Registration Id"},
            },
            {
                "name": "validate",
                "in": "query",
                "required": False,
                "schema": {"type": "boolean", "default": True, "title": "Validate"},
            },
        ],
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": EventBatch.model_json_schema()}},
        },
        "security": [{"APIKeyHeader": []}],
    },
)
async def ingest_events(request: Request) -> JSONResponse:
    """Store a batch of events from the app (``Authorization: App <applicationCode>``);
    ``?validate=false`` stores the valid ones and lists the others.
    \f
    The hot path of the server. The handler takes the bare request — no FastAPI parameters to
    solve, a tenth of a single-event request's CPU — and the body is parsed by pydantic
    straight from bytes. All blocking work (authentication, checks, the insert) runs as one
    call: on the event loop for SQLite, in one thread-pool hop for PostgreSQL.
    """
    push_registration_id: str = request.path_params["push_registration_id"]
    validate = query_flag(request, "validate", default=True)
    authorization = request.headers.get("authorization")
    body = await request.body()
    return await respond(request, _ingest, authorization, push_registration_id, body, validate)


@events_router.post("/persons/{person_id}/events", **answers(Event, 201, also=(200,)))
def record_person_event(
    person_id: str,
    body: Annotated[dict[str, Any], Body()],
    _key: WriteKey,
    db: Db,
    response: Response,
) -> dict[str, Any]:
    """A custom event recorded server-side; a retried ``eventId`` answers 200 with the first."""
    with db.write() as conn:
        row, created = service.record_server_event(conn, person_id, body)
    if not created:
        response.status_code = 200
    return service.event_to_api(row)


# --- history -----------------------------------------------------------------------------------


def _time_param(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        return to_naive_utc(parse_datetime(value))
    except InvalidValue as exc:
        raise validation_error(f"{name}: {exc}", name) from None


def _history_cursor(cursor: str | None) -> tuple[datetime, int] | None:
    key = decode_cursor(cursor, 2)
    if key is None:
        return None
    at, last_id = key
    if not isinstance(at, str) or not isinstance(last_id, int) or isinstance(last_id, bool):
        raise validation_error("Invalid cursor", "cursor")
    try:
        return to_naive_utc(parse_datetime(at)), last_id
    except InvalidValue:
        raise validation_error("Invalid cursor", "cursor") from None


@events_router.get("/persons/{person_id}/events", **answers(Page[Event]))
def person_events(
    person_id: str,
    _key: ReadKey,
    db: Db,
    definition_id: Annotated[str | None, Query(alias="definitionId", max_length=36)] = None,
    from_: Annotated[str | None, Query(alias="from", max_length=40)] = None,
    to: Annotated[str | None, Query(max_length=40)] = None,
    push_registration_id: Annotated[
        str | None, Query(alias="pushRegistrationId", max_length=36)
    ] = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> dict[str, Any]:
    """Newest first; ``from`` and ``to`` bound ``occurredAt`` inclusively."""
    since = _time_param(from_, "from")
    until = _time_param(to, "to")
    if since is not None and until is not None and since > until:
        raise validation_error("'from' is after 'to'", "from")
    after = _history_cursor(cursor)
    with db.read() as conn:
        owner, rows = service.person_history(
            conn,
            person_id,
            definition_id=definition_id,
            since=since,
            until=until,
            push_registration_id=push_registration_id,
            after=after,
            limit=limit,
        )
    return page(
        rows, limit, service.history_cursor_key, lambda row: service.event_to_api(row, owner)
    )
