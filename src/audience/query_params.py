"""Unknown query parameters answer 400 (SPEC §10), for every API route at once.

A misspelt or unsupported filter (``GET /v1/persons?email=…``) silently ignored answers
*everyone*; refusing it names the mistake. The names a route accepts are the query parameters
its OpenAPI operation declares (FastAPI's solved parameters and dependencies, plus those that
handlers reading the bare request declare in ``openapi_extra``): the published contract is
the check. A pure ASGI middleware, so a request without a query string pays nothing and the
ingestion hot path gets no FastAPI dependency to solve; the table is built on first use.
"""

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Receive, Scope, Send

from audience.errors import error_response

Operation = tuple[re.Pattern[str], str, frozenset[str]]
_PARAM = re.compile(r"\{[^}/]+\}")


def operations_of(openapi: dict[str, Any]) -> list[Operation]:
    """(path pattern, method, accepted query names) per operation, in routing order."""
    table: list[Operation] = []
    for path, item in openapi.get("paths", {}).items():
        literal_parts = (re.escape(part) for part in _PARAM.split(path))
        pattern = re.compile("^" + "[^/]+".join(literal_parts) + "$")
        shared = item.get("parameters", [])
        for method, operation in item.items():
            if method == "parameters" or not isinstance(operation, dict):
                continue
            params = [*shared, *operation.get("parameters", [])]
            names = frozenset(p["name"] for p in params if p.get("in") == "query")
            table.append((pattern, method.upper(), names))
    return table


class KnownQueryParameters:
    def __init__(self, app: ASGIApp, openapi: Callable[[], dict[str, Any]]) -> None:
        self.app = app
        self.openapi = openapi
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
            self.table = operations_of(self.openapi())
        method = "GET" if method == "HEAD" else method
        for pattern, op_method, accepted in self.table:
            if op_method == method and pattern.match(path):
                for name, _value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
                    if name not in accepted:
                        return name
                return None
        return None  # not an API operation (console pages, static files, 404s)
