"""Handlers that take the bare request: the mobile SDK's calls.

A fleet of devices sends these all day, and FastAPI solving a handler's parameters and
dependencies (the credential, the database, the body) cost more CPU than the call's whole
database work (docs/performance.md, issue 13). So these handlers take ``Request``, parse the
body with pydantic straight from bytes, and run their blocking work in one call: on the event
loop for SQLite (under a millisecond of local work, and writers take turns anyway), in one
thread-pool hop for PostgreSQL (it waits on the network). Their parameters are declared for
OpenAPI (and for the unknown-query-parameter check) by :func:`documented`, and they are
routed by :class:`BareRoute`, which hands them the request without FastAPI's request handler.
"""

from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, TypeAdapter, ValidationError
from starlette.concurrency import run_in_threadpool

from audience.db import Database

Model = TypeVar("Model", bound=BaseModel)

Endpoint = Callable[[Request], Coroutine[Any, Any, Response]]

_FLAG = TypeAdapter(bool)
# Bodies of bare handlers, by name: ``audience.openapi`` adds them to the document's
# components, so clients generated from it get a named model as for any declared body.
BODY_MODELS: dict[str, type[BaseModel]] = {}


class BareRoute(APIRoute):
    """A route whose endpoint takes the request and answers a ``Response`` itself: FastAPI's
    request handler (dependency solving, answer serialisation, its telemetry) is not run —
    about 130 µs a call, a seventh of a one-event request (docs/performance.md). OpenAPI is
    still built from the route's declarations."""

    def get_route_handler(self) -> Endpoint:
        endpoint: Endpoint = self.endpoint
        return endpoint


def bare_route(
    router: APIRouter, method: str, path: str, **kwargs: Any
) -> Callable[[Endpoint], Endpoint]:
    """``@router.<method>(path, **kwargs)`` for a bare handler (routed by :class:`BareRoute`)."""

    def register(endpoint: Endpoint) -> Endpoint:
        router.add_api_route(
            path, endpoint, methods=[method], route_class_override=BareRoute, **kwargs
        )
        return endpoint

    return register


def documented(
    path: tuple[str, ...] = ("push_registration_id",),
    query: tuple[str, ...] = (),
    headers: tuple[str, ...] = (),
    body: type[BaseModel] | None = None,
) -> dict[str, Any]:
    """``openapi_extra`` of a bare handler: its path parameters (strings), boolean query
    flags, optional headers and JSON body, and the credential it takes."""
    parameters: list[dict[str, Any]] = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": {"type": "string", "title": name.replace("_", " ").title()},
        }
        for name in path
    ]
    parameters += [
        {
            "name": name,
            "in": "query",
            "required": False,
            "schema": {"type": "boolean", "default": False, "title": name},
        }
        for name in query
    ]
    parameters += [
        {
            "name": name,
            "in": "header",
            "required": False,
            "schema": {"anyOf": [{"type": "string"}, {"type": "null"}], "title": name},
        }
        for name in headers
    ]
    extra: dict[str, Any] = {"parameters": parameters, "security": [{"APIKeyHeader": []}]}
    if body is not None:
        BODY_MODELS[body.__name__] = body
        extra["requestBody"] = {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": f"#/components/schemas/{body.__name__}"}}
            },
        }
    return extra


def parse_body(model: type[Model], raw: bytes) -> Model:
    """The body as ``model``; invalid, the same 400 FastAPI answers for a declared body."""
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        errors = [error | {"loc": ("body", *error["loc"])} for error in exc.errors()]
        raise RequestValidationError(errors) from None


def query_flag(request: Request, name: str, default: bool = False) -> bool:
    """A boolean query parameter, parsed as FastAPI parses one (same 400s)."""
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        return _FLAG.validate_python(raw)
    except ValidationError as exc:
        errors = [error | {"loc": ("query", name)} for error in exc.errors()]
        raise RequestValidationError(errors) from None


async def respond(
    request: Request, work: Callable[..., Any], *args: Any, status: int = 200
) -> JSONResponse:
    """``work(db, *args)`` run as the backend wants it, answered as JSON with ``status``."""
    db: Database = request.app.state.db
    if db.is_sqlite:
        return JSONResponse(work(db, *args), status_code=status)
    return JSONResponse(await run_in_threadpool(work, db, *args), status_code=status)
