"""FastAPI dependencies that turn the ``Authorization: App <credential>`` header into a caller."""

from collections.abc import Callable
from typing import Annotated, TypeVar

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.security import APIKeyHeader
from sqlalchemy import Connection

from audience.apps import queries as app_queries
from audience.auth.principals import ApiKeyPrincipal, AppPrincipal
from audience.auth.service import authenticate_key
from audience.db import Database
from audience.errors import ApiError, Forbidden, Unauthorized
from audience.ids import API_KEY_PREFIX

T = TypeVar("T")

_authorization = APIKeyHeader(
    name="Authorization",
    auto_error=False,
    description="`App <apiKey>` for the server API, `App <applicationCode>` for the mobile API",
)


def get_db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


Db = Annotated[Database, Depends(get_db)]


def _unauthorized(message: str) -> ApiError:
    return Unauthorized(message)


def credential_of(authorization: str | None) -> str:
    """The credential of an ``Authorization: App <credential>`` header, else 401."""
    if not authorization:
        raise _unauthorized("Missing Authorization header")
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme != "App" or not token:
        raise _unauthorized("Authorization must be 'App <credential>'")
    return token


def authenticate(
    db: Db, authorization: Annotated[str | None, Depends(_authorization)]
) -> ApiKeyPrincipal | AppPrincipal:
    """Whoever the credential names; an API key or an application code, told apart by prefix."""
    token = credential_of(authorization)
    with db.read() as conn:
        if token.startswith(API_KEY_PREFIX):
            key = authenticate_key(conn, token)
            if key is not None:
                return key
        else:
            row = app_queries.find_by_code(conn, token)
            if row is not None:
                return AppPrincipal(
                    id=row.id,
                    application_code=row.application_code,
                    require_user_jwt=row.require_user_jwt,
                    jwt_secret=row.jwt_secret,
                )
    raise _unauthorized("Invalid or revoked credential")


def mobile_app_in(conn: Connection, db: Database, authorization: str | None) -> AppPrincipal:
    """The application an ``App <applicationCode>`` credential names, read on ``conn`` (the
    call's own transaction: no transaction of its own on the hot path); anything else gets
    exactly the 401 or 403 of :func:`authenticate` and :func:`mobile_app`."""
    token = credential_of(authorization)
    if not token.startswith(API_KEY_PREFIX):
        found = app_queries.principal_by_code(conn, token)
        if found is not None:
            return AppPrincipal(*found)
    return mobile_app(authenticate(db, authorization))


def mobile_inputs(db: Database, authorization: str | None, parse: Callable[[], T]) -> T:
    """``parse()`` of a bare mobile handler's body and flags; when it fails (400), who is
    asking is checked first, so a bad credential gets its 401/403 as with every endpoint."""
    try:
        return parse()
    except RequestValidationError:
        mobile_app(authenticate(db, authorization))
        raise


Credential = Annotated[ApiKeyPrincipal | AppPrincipal, Depends(authenticate)]


def require_key(scope: str) -> Callable[[ApiKeyPrincipal | AppPrincipal], ApiKeyPrincipal]:
    def dependency(credential: Credential) -> ApiKeyPrincipal:
        if not isinstance(credential, ApiKeyPrincipal):
            raise Forbidden("This endpoint needs a server API key")
        if not credential.allows(scope):
            raise Forbidden(f"This API key lacks the '{scope}' scope")
        return credential

    return dependency


def mobile_app(credential: Credential) -> AppPrincipal:
    if not isinstance(credential, AppPrincipal):
        raise Forbidden("This endpoint needs an application code")
    return credential


ReadKey = Annotated[ApiKeyPrincipal, Depends(require_key("read"))]
WriteKey = Annotated[ApiKeyPrincipal, Depends(require_key("write"))]
AdminKey = Annotated[ApiKeyPrincipal, Depends(require_key("admin"))]
MobileApp = Annotated[AppPrincipal, Depends(mobile_app)]
