"""The ASGI application: routers, error handlers, the body limit, and the database handle."""

import contextlib
import gc
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI
from sqlalchemy import text

from audience import __version__
from audience.apps.routes import router as apps_router
from audience.attributes.routes import router as attribute_definitions_router
from audience.auth.dependencies import Db
from audience.auth.rate_limits import RateLimiter
from audience.auth.routes import router as api_keys_router
from audience.bare_routes import dispatch_bare_routes
from audience.config import Settings, get_settings
from audience.console.routes import install as install_console
from audience.db import Database, make_engine
from audience.errors import install_error_handlers
from audience.events.routes import definitions_router as event_definitions_router
from audience.events.routes import events_router
from audience.exports.routes import router as exports_router
from audience.flows.routes import router as flows_router
from audience.imports.routes import IMPORTS_PATH
from audience.imports.routes import router as imports_router
from audience.installations.routes import router as installations_router
from audience.limits import InputGuard
from audience.models import ResponseModel
from audience.observability import RequestObserver, configure_logging, metrics_response
from audience.openapi import install_openapi
from audience.persons import guardrails
from audience.persons.merge_routes import router as merges_router
from audience.persons.mobile_routes import router as mobile_persons_router
from audience.persons.routes import router as persons_router
from audience.push.routes import router as push_router
from audience.query_budget import install as install_query_budget
from audience.query_params import KnownQueryParameters
from audience.segments.explain_routes import router as explain_router
from audience.segments.routes import router as segments_router
from audience.webhooks.routes import router as webhooks_router
from audience.worker import embedded_worker

# Routes are tried in this order, each match attempt costing tens of microseconds: the mobile
# SDK's calls (a fleet of devices, all day) come first.
ROUTERS = (
    events_router,
    installations_router,
    mobile_persons_router,
    apps_router,
    api_keys_router,
    attribute_definitions_router,
    merges_router,
    persons_router,
    event_definitions_router,
    explain_router,
    segments_router,
    webhooks_router,
    flows_router,
    push_router,
    imports_router,
    exports_router,
)


class Health(ResponseModel):
    status: str
    version: str
    database: str


def create_app(settings: Settings | None = None, database: Database | None = None) -> FastAPI:
    settings = settings or get_settings()
    owned = database is None
    database = database or Database(
        make_engine(
            settings.database_url, settings.db_pool_size, settings.statement_timeout_seconds
        )
    )

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        async with embedded_worker(database, settings):
            yield
        if owned:
            database.close()

    app = FastAPI(
        lifespan=lifespan,
        # FastAPI's own OpenTelemetry hooks: Audience exports Prometheus metrics and its
        # access log itself (audience.observability); off, each request skips their checks.
        telemetry={"tracing": False, "metrics": False, "logs": False},
        title="Audience",
        version=__version__,
        description="Self-hosted mobile audience profiling: installations, persons, events, "
        "segments. The rules: docs/rules.md; conventions and errors: docs/api.md.",
    )
    app.state.settings = settings
    guardrails.configure(settings)
    app.state.db = database
    install_error_handlers(app)
    install_query_budget(app)
    for router in ROUTERS:
        app.include_router(router)
    install_console(app)
    install_openapi(app)

    @app.get("/healthz", tags=["health"], response_model=Health)
    def healthz(db: Db) -> dict[str, Any]:
        with db.read() as conn:
            conn.execute(text("SELECT 1"))
        return {"status": "ok", "version": __version__, "database": db.dialect}

    app.add_route("/metrics", metrics_response, include_in_schema=False)
    dispatch_bare_routes(app, ROUTERS)
    app.add_middleware(KnownQueryParameters, api=app)
    app.add_middleware(
        InputGuard, max_bytes=settings.max_body_bytes, unlimited_paths=(IMPORTS_PATH,)
    )
    app.add_middleware(
        RateLimiter,
        db=database,
        failed_auth_per_minute=settings.rate_limit_failed_auth_per_minute,
        requests_per_minute=settings.rate_limit_requests_per_minute,
    )
    app.add_middleware(RequestObserver)
    return app


def create_app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory`` (each worker process builds its own app and pool).

    What is built by now (modules, routes, schemas: ~150,000 objects) lives as long as the
    process, so it is moved out of the cycle collector's sight (``gc.freeze``): a full
    collection scanned all of it, 100 to 200 ms during which the worker answered nothing —
    the serving tail latency (docs/performance.md)."""
    settings = get_settings()
    configure_logging(settings.log_level)
    app = create_app(settings)
    gc.collect()
    gc.freeze()
    return app
