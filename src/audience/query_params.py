"""Unknown query parameters answer 400 (docs/security.md), for every API route at once.

A misspelt or unsupported filter (``GET /v1/persons?email=…``) silently ignored answers
*everyone*; refusing it names the mistake. The names a route accepts are the query parameters
FastAPI solves for it (its own and its dependencies', exactly what its OpenAPI operation
declares) plus those that handlers reading the bare request declare in ``openapi_extra``.
A pure ASGI middleware, so a request without a query string pays nothing and the ingestion
hot path gets no FastAPI dependency to solve; the table is built on first use from the routes
(not from the OpenAPI document, which takes seconds to generate).
"""

import re
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from audience.errors import error_response

Operation = tuple[re.Pattern[str], frozenset[str], frozenset[str]]
_PARAM = re.compile(r"\{[^}/]+\}")


def _declared(dependant: Dependant) -> set[str]:
    names = {param.alias for param in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _declared(sub)
    return names


def _api_routes(routes: Iterable[Any], prefix: str = "") -> Iterator[tuple[str, APIRoute]]:
    """Every API route with its full path; FastAPI ≥ 0.16x keeps included routers as such."""
    for route in routes:
        if isinstance(route, APIRoute):
            if route.include_in_schema:
                yield prefix + route.path, route
            continue
        inner = getattr(route, "original_router", None)
        if inner is not None:
            context = getattr(route, "include_context", None)
            yield from _api_routes(inner.routes, prefix + getattr(context, "prefix", ""))


def operations_of(app: FastAPI) -> list[Operation]:
    """(path pattern, methods, accepted query names) per API route, in routing order."""
    table: list[Operation] = []
    for path, route in _api_routes(app.router.routes):
        literal_parts = (re.escape(part) for part in _PARAM.split(path))
        pattern = re.compile("^" + "[^/]+".join(literal_parts) + "$")
        names = _declared(route.dependant)
        extra: dict[str, Any] = route.openapi_extra or {}
        names |= {p["name"] for p in extra.get("parameters", []) if p.get("in") == "query"}
        table.append((pattern, frozenset(route.methods or ()), frozenset(names)))
    return table


class KnownQueryParameters:
    def __init__(self, app: ASGIApp, api: FastAPI) -> None:
        self.app = app
        self.api = api
        self.table: list[Operation] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        query = scope.get("query_string", b"") if scope["type"] == "http" else b""
        if query:
            unknown = self._unknown(scope["path"], scope["method"], query)
            if unknown is not None:
                message = f"Unknown query parameter '{unknown}'"
                response = error_response(400, "VALIDATION_ERROR", message, unknown)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _unknown(self, path: str, method: str, query: bytes) -> str | None:
        if self.table is None:
            self.table = operations_of(self.api)
        method = "GET" if method == "HEAD" else method
        for pattern, methods, accepted in self.table:
            if method in methods and pattern.match(path):
                for name, _value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
                    if name not in accepted:
                        return name
                return None
        return None  # not an API operation (console pages, static files, 404s)
