"""Installation endpoints: mobile register/read/update, server read/uninstall."""

from typing import Any

from fastapi import APIRouter, Response

from audience.auth.dependencies import Credential, Db, MobileApp, WriteKey
from audience.auth.principals import AppPrincipal
from audience.installations import service
from audience.installations.schemas import Installation, InstallationCreate, InstallationUpdate
from audience.models import answers

router = APIRouter(prefix="/v1/installations", tags=["installations"])


@router.post("", **answers(Installation, 201))
def register_installation(body: InstallationCreate, app: MobileApp, db: Db) -> dict[str, Any]:
    with db.write() as conn:
        return service.installation_to_api(service.register(conn, app, body.sent()))


@router.get("/{push_registration_id}", **answers(Installation))
def read_installation(push_registration_id: str, credential: Credential, db: Db) -> dict[str, Any]:
    """An application code reads its own live installation; an API key any, tombstones too."""
    with db.read() as conn:
        if isinstance(credential, AppPrincipal):
            row = service.get_app_installation(conn, credential, push_registration_id)
        else:
            row = service.get_installation(conn, push_registration_id)
    return service.installation_to_api(row)


@router.patch("/{push_registration_id}", **answers(Installation))
def update_installation(
    push_registration_id: str, body: InstallationUpdate, app: MobileApp, db: Db
) -> dict[str, Any]:
    with db.write() as conn:
        row = service.get_app_installation(conn, app, push_registration_id, for_update=True)
        return service.installation_to_api(service.update_installation(conn, row, body.sent()))


@router.delete("/{push_registration_id}", status_code=204)
def uninstall_installation(push_registration_id: str, _key: WriteKey, db: Db) -> Response:
    with db.write() as conn:
        service.uninstall(conn, push_registration_id)
    return Response(status_code=204)
