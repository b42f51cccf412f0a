"""Handlers that take the bare request: the mobile SDK's calls.

A fleet of devices sends these all day, and FastAPI solving a handler's parameters and
dependencies (the credential, the database, the body) cost more CPU than the call's whole
database work (docs/performance.md, issue 13). So these handlers take ``Request``, parse the
body with pydantic straight from bytes, and run their blocking work in one call: on the event
loop for SQLite (under a millisecond of local work, and writers take turns anyway), in one
thread-pool hop for PostgreSQL (it waits on the network). Their parameters are declared for
OpenAPI (and for the unknown-query-parameter check) by :func:`documented`, and they are
routed by :class:`BareRoute`, which hands them the request without FastAPI's request handler,
and matched by :class:`BareDispatch` ahead of the app's router.
"""

import re
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, TypeVar

import orjson
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, TypeAdapter, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.convertors import StringConvertor
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

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


class BareDispatch:
    """Matches the bare routes' paths before the app's router does.

    FastAPI's router tries the included routers one after the other and matches the chosen one
    twice (to pick it, then inside it): 5 to 20 % of a mobile call's CPU (docs/performance.md).
    Here the bare routes' own path patterns are tried first; a request they do not match with
    its method (another path, another method's 405, a ``root_path``) goes on to the router
    unchanged. :func:`dispatch_bare_routes` checks that no other route could take a bare
    route's requests, so both ways pick the same handler."""

    def __init__(self, router: APIRouter, routes: Sequence[BareRoute]) -> None:
        self.router = router
        self.inner: ASGIApp = router.middleware_stack
        self.table = [(route, route.path_regex, frozenset(route.methods or ())) for route in routes]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope.get("root_path"):
            method = scope["method"]
            path = scope["path"]
            for route, pattern, methods in self.table:
                if method in methods and (found := pattern.match(path)) is not None:
                    scope.setdefault("router", self.router)
                    scope["route"] = route
                    scope["endpoint"] = route.endpoint
                    scope["path_params"] = found.groupdict()
                    await route.app(scope, receive, send)
                    return
        await self.inner(scope, receive, send)


def bare_route_clashes(bare: Sequence[APIRoute], others: Sequence[BaseRoute]) -> list[str]:
    """Routes that could take a request a bare route matches (same method, a path the bare
    route's pattern matches, parameters read as ``x``), and bare routes whose parameters are
    not plain strings: either would make :class:`BareDispatch` answer differently from the
    router. Conservative on purpose: a clash is refused even where the router would pick
    the bare route anyway."""
    clashes = []
    for route in bare:
        if not all(isinstance(c, StringConvertor) for c in route.param_convertors.values()):
            clashes.append(f"{route.path}: a parameter that is not a plain string")
        for other in others:
            if other is route or not hasattr(other, "path_format"):
                continue
            methods = getattr(other, "methods", None)
            if methods is not None and not methods & (route.methods or set()):
                continue
            probe = re.sub(r"{[^}]*}", "x", other.path_format)
            if route.path_regex.match(probe):
                clashes.append(f"{route.path} and {other.path_format}")
    return clashes


def dispatch_bare_routes(app: FastAPI, routers: Sequence[APIRouter]) -> None:
    """Put :class:`BareDispatch` in front of ``app``'s router, for the bare routes of
    ``routers`` (included without a prefix), once every route is added."""
    routes = [route for router in routers for route in router.routes]
    bare = [route for route in routes if isinstance(route, BareRoute)]
    clashes = bare_route_clashes(bare, routes + list(app.router.routes))
    if clashes:
        raise RuntimeError(f"bare routes would not route as the router does: {clashes}")
    app.router.middleware_stack = BareDispatch(app.router, bare)


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
    if not request.scope.get("query_string"):
        return default  # the usual mobile call: no query to parse
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        return _FLAG.validate_python(raw)
    except ValidationError as exc:
        errors = [error | {"loc": ("query", name)} for error in exc.errors()]
        raise RequestValidationError(errors) from None


class MobileJSONResponse(JSONResponse):
    """JSON by orjson (a tenth of ``json.dumps``: ~40 µs a mobile answer); ``JSONResponse``'s
    own rendering for what orjson refuses (integers past 64 bits, lone surrogates)."""

    def render(self, content: Any) -> bytes:
        try:
            return orjson.dumps(content)
        except TypeError:
            return super().render(content)


async def respond(
    request: Request, work: Callable[..., Any], *args: Any, status: int = 200
) -> JSONResponse:
    """``work(db, *args)`` run as the backend wants it, answered as JSON with ``status``."""
    db: Database = request.app.state.db
    if db.is_sqlite:
        return MobileJSONResponse(work(db, *args), status_code=status)
    return MobileJSONResponse(await run_in_threadpool(work, db, *args), status_code=status)
