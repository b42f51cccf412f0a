"""Installation endpoints: mobile register/read/update, server read/uninstall."""

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from audience import configuration
from audience.auth.dependencies import (
    Credential,
    Db,
    WriteKey,
    mobile_app_in,
    mobile_inputs,
)
from audience.auth.principals import AppPrincipal
from audience.bare_routes import bare_route, documented, parse_body, respond
from audience.db import Database
from audience.installations import queries, service
from audience.installations.schemas import Installation, InstallationCreate, InstallationUpdate
from audience.models import answers

router = APIRouter(prefix="/v1/installations", tags=["installations"])


@bare_route(
    router,
    "POST",
    "",
    **answers(Installation, 201),
    openapi_extra=documented(path=(), body=InstallationCreate),
)
async def register_installation(request: Request) -> JSONResponse:
    """Register an installation (``Authorization: App <applicationCode>``).
    \f
    A mobile hot path: a bare handler (``audience.bare_routes``)."""
    authorization = request.headers.get("authorization")
    return await respond(request, _register, authorization, await request.body(), status=201)


def _register(db: Database, authorization: str | None, raw: bytes) -> dict[str, Any]:
    fields = mobile_inputs(db, authorization, lambda: parse_body(InstallationCreate, raw).sent())
    with db.write(pipelined=True) as conn:
        configuration.preload(conn)
        app = mobile_app_in(conn, db, authorization)
        return service.installation_to_api(service.register(conn, app, fields))


@router.get("/{push_registration_id}", **answers(Installation))
def read_installation(push_registration_id: str, credential: Credential, db: Db) -> dict[str, Any]:
    """An application code reads its own live installation; an API key any, tombstones too."""
    with db.read() as conn:
        if isinstance(credential, AppPrincipal):
            row = service.get_app_installation(conn, credential, push_registration_id)
        else:
            row = service.get_installation(conn, push_registration_id)
    return service.installation_to_api(row)


@bare_route(
    router,
    "PATCH",
    "/{push_registration_id}",
    **answers(Installation),
    openapi_extra=documented(body=InstallationUpdate),
)
async def update_installation(request: Request) -> JSONResponse:
    """Update the caller's own installation (every app start sends this).
    \f
    A mobile hot path: a bare handler (``audience.bare_routes``)."""
    push_registration_id: str = request.path_params["push_registration_id"]
    authorization = request.headers.get("authorization")
    return await respond(
        request, _update, authorization, push_registration_id, await request.body()
    )


def _update(
    db: Database, authorization: str | None, push_registration_id: str, raw: bytes
) -> dict[str, Any]:
    fields = mobile_inputs(db, authorization, lambda: parse_body(InstallationUpdate, raw).sent())
    with db.write(pipelined=True) as conn:
        configuration.preload(conn)
        row = service.authorised_installation(
            db,
            authorization,
            push_registration_id,
            queries.find(conn, push_registration_id, for_update=True),
        )
        return service.installation_to_api(service.update_installation(conn, row, fields))


@router.delete("/{push_registration_id}", status_code=204)
def uninstall_installation(push_registration_id: str, _key: WriteKey, db: Db) -> Response:
    with db.write() as conn:
        service.uninstall(conn, push_registration_id)
    return Response(status_code=204)
