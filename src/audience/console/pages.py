"""Console plumbing: templates, the signed-in user, CSRF and scope checks, redirects."""

import hmac
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar
from urllib.parse import urlencode, urlparse

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError
from sqlalchemy import Connection
from starlette.datastructures import FormData

from audience.auth.dependencies import Db
from audience.console.session import COOKIE_NAME, ConsoleUser, open_session
from audience.db import Database
from audience.errors import ApiError

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
T = TypeVar("T")


class SignedOut(Exception):
    """No valid session: pages redirect to the sign-in form, scripts get a 401."""


class Denied(Exception):
    """A console request refused with 403 (bad CSRF token or origin, read-only key)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "") or bool(
        request.headers.get("hx-request")
    )


def secret_of(request: Request) -> str:
    secret: str = request.app.state.settings.console_secret
    return secret


def current_user(request: Request, db: Db) -> ConsoleUser:
    with db.read() as conn:
        user = open_session(
            conn, request.cookies.get(COOKIE_NAME), secret_of(request), int(time.time())
        )
    if user is None:
        raise SignedOut()
    return user


User = Annotated[ConsoleUser, Depends(current_user)]


def check_origin(request: Request) -> None:
    """Browsers send Origin on POSTs; one from another site is refused (CSRF defence in
    depth), and so is ``null`` (sandboxed frames and ``data:`` pages send it)."""
    origin = request.headers.get("origin")
    if origin and (origin == "null" or urlparse(origin).netloc != request.headers.get("host")):
        raise Denied("This request came from another site")


def check_csrf(request: Request, user: ConsoleUser, sent: object) -> None:
    """The session's CSRF token, from the form or the ``X-CSRF-Token`` header."""
    token = sent or request.headers.get("x-csrf-token")
    if not isinstance(token, str) or not hmac.compare_digest(
        token.encode(), user.csrf_token.encode()
    ):
        raise Denied("The form's security token is missing or stale; reload the page")


async def write_form(request: Request, user: User) -> tuple[ConsoleUser, FormData]:
    """A change: same-origin, with the session's CSRF token, by a key with the write scope."""
    check_origin(request)
    form = await request.form()
    check_csrf(request, user, form.get("csrf_token"))
    if not user.can_write:
        raise Denied(f"The API key '{user.key.name}' has read access only")
    return user, form


Writer = Annotated[tuple[ConsoleUser, FormData], Depends(write_form)]


def render(
    request: Request, name: str, user: ConsoleUser | None, status: int = 200, **context: Any
) -> HTMLResponse:
    context |= {
        "user": user,
        "notice": request.query_params.get("notice"),
        "error": request.query_params.get("error"),
        "path": request.url.path,
    }
    return templates.TemplateResponse(request, name, context, status_code=status)


def back(url: str, notice: str | None = None, error: str | None = None) -> RedirectResponse:
    """Post/redirect/get: the page the change was made on, with a message."""
    params = {k: v for k, v in (("notice", notice), ("error", error)) if v}
    sep = "&" if "?" in url else "?"
    return RedirectResponse(f"{url}{sep}{urlencode(params)}" if params else url, status_code=303)


def error_text(exc: Exception) -> str:
    if isinstance(exc, ApiError):
        return exc.message
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        return f"{where}: {first['msg']}" if where else str(first["msg"])
    return str(exc)


def attempt(
    db: Database,
    work: Callable[[Connection], T],
    write: Callable[[Database, Callable[[Connection], T]], T] | None = None,
) -> tuple[T | None, str | None]:
    """Run ``work`` in one write transaction; a rule's refusal comes back as a message."""
    try:
        if write is not None:
            return write(db, work), None
        with db.write() as conn:
            return work(conn), None
    except (ApiError, ValidationError, ValueError) as exc:
        return None, error_text(exc)


def denied_response(request: Request, exc: Denied) -> Response:
    if wants_json(request):
        return JSONResponse({"error": {"code": "FORBIDDEN", "message": exc.message}}, 403)
    return render(request, "denied.html", None, status=403, message=exc.message)


def signed_out_response(request: Request, _exc: SignedOut) -> Response:
    if wants_json(request) or request.method != "GET":
        return JSONResponse({"error": {"code": "UNAUTHORIZED", "message": "Sign in first"}}, 401)
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/console/login?{urlencode({'next': target})}", status_code=303)
