"""Operational basics: one JSON log line per request (with a request id) and Prometheus metrics.

Logs never carry headers or query strings: credentials travel in headers, and identities
(emails, phones) can appear in lookup query strings.
"""

import json
import logging
import os
import re
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUESTS = Counter(
    "audience_http_requests", "HTTP requests answered", ["method", "route", "status"]
)
LATENCY = Histogram(
    "audience_http_request_duration_seconds",
    "HTTP request latency",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
EVENTS_INGESTED = Counter("audience_events_ingested", "Events stored", ["source"])
SEGMENT_EVALUATIONS = Counter("audience_segment_evaluations", "Segment evaluations", ["kind"])
FLOW_RUNS = Counter("audience_flow_runs", "Flow runs started and ended", ["outcome"])
FLOW_STEPS = Counter("audience_flow_steps", "Flow steps applied", ["type"])

# Metrics read from the database when /metrics is scraped (queue depths, oldest ages): each
# answers metric families for the app's database. Features append theirs at import.
SCRAPE_COLLECTORS: list[Callable[[Any], Iterable[Any]]] = []

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
access_log = logging.getLogger("audience.access")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        line.update(getattr(record, "fields", {}))
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def configure_logging(level: str = "INFO") -> None:
    """JSON lines on stderr for every ``audience.*`` logger."""
    logging.Formatter.converter = time.gmtime
    # No thread or process names in our lines: skip collecting them for every record.
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger("audience")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


class RequestObserver:
    """Pure ASGI middleware: request id in and out, a log line and metrics per request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _incoming_request_id(scope) or os.urandom(16).hex()
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            method = scope["method"]
            REQUESTS.labels(method, route, str(status)).inc()
            LATENCY.labels(method, route).observe(elapsed)
            if access_log.isEnabledFor(logging.INFO):
                fields = {
                    "requestId": request_id,
                    "method": method,
                    "path": scope["path"],
                    "route": route,
                    "status": status,
                    "durationMs": round(elapsed * 1000, 2),
                }
                # makeRecord + handle, not .info(): .info() walks the (deep) stack to find its
                # caller, which was a tenth of a single-event request's CPU.
                record = access_log.makeRecord(
                    access_log.name, logging.INFO, __file__, 0, "request", (), None
                )
                record.fields = fields
                access_log.handle(record)


def _incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            candidate = value.decode("latin-1")
            return candidate if _REQUEST_ID.match(candidate) else None
    return None


class _DatabaseCollector:
    def __init__(self, db: Any) -> None:
        self.db = db

    def collect(self) -> Iterable[Any]:
        for collector in SCRAPE_COLLECTORS:
            yield from collector(self.db)


def metrics_response(request: Request) -> Response:
    """All workers' metrics when running multi-process (PROMETHEUS_MULTIPROC_DIR), else ours;
    then the gauges read from the database (the same for every process)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        body = generate_latest(registry)
    else:
        body = generate_latest()
    from_database = CollectorRegistry(auto_describe=False)
    from_database.register(_DatabaseCollector(request.app.state.db))
    return Response(body + generate_latest(from_database), media_type=CONTENT_TYPE_LATEST)
