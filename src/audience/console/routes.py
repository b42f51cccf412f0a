"""Console entry points: sign-in/out, the dashboard, and wiring the console into the app."""

import time
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from audience.auth.dependencies import Db
from audience.clock import utcnow
from audience.console import catalog, flows, identity, messages, people, queries, segments, webhooks
from audience.console.headers import ConsoleHeaders
from audience.console.pages import (
    HERE,
    Denied,
    SignedOut,
    User,
    check_csrf,
    check_origin,
    denied_response,
    render,
    secret_of,
    signed_out_response,
)
from audience.console.session import COOKIE_NAME, sign_in

router = APIRouter(prefix="/console", include_in_schema=False)
CHART_DAYS = 90


def _safe_next(target: str | None) -> str:
    """Only console paths: a sign-in link cannot send the user off-site."""
    if target and target.startswith("/console") and not target.startswith("//"):
        return target
    return "/console"


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str | None = None) -> HTMLResponse:
    return render(request, "login.html", None, next=_safe_next(next))


@router.post("/login", response_model=None)
def login(
    request: Request,
    db: Db,
    api_key: Annotated[str, Form(max_length=512)] = "",
    next: Annotated[str, Form(max_length=2048)] = "/console",
) -> Response:
    check_origin(request)
    settings = request.app.state.settings
    expires = int(time.time() + settings.console_session_hours * 3600)
    with db.read() as conn:
        cookie = sign_in(conn, api_key, secret_of(request), expires)
    if cookie is None:
        return render(
            request,
            "login.html",
            None,
            status=401,
            next=_safe_next(next),
            login_error="That API key is not valid (or has been revoked).",
        )
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(
        COOKIE_NAME,
        cookie,
        max_age=int(settings.console_session_hours * 3600),
        path="/console",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/logout")
def logout(
    request: Request, user: User, csrf_token: Annotated[str, Form(max_length=256)] = ""
) -> RedirectResponse:
    """Signing out is a change too: same origin and the session's CSRF token."""
    check_origin(request)
    check_csrf(request, user, csrf_token)
    response = RedirectResponse("/console/login", status_code=303)
    response.delete_cookie(COOKIE_NAME, path="/console")
    return response


@router.get("", response_class=HTMLResponse)
def dashboard(request: Request, user: User, db: Db) -> HTMLResponse:
    now = utcnow()
    since = now - timedelta(days=CHART_DAYS - 1)
    start = since.replace(hour=0, minute=0, second=0, microsecond=0)
    with db.read() as conn:
        by_type = queries.persons_by_type(conn)
        platforms = queries.live_installations_by_platform(conn)
        per_day = queries.events_per_day(conn, start)
        top = queries.top_event_definitions(conn, now - timedelta(days=30), 10)
    days = queries.day_range(now.date(), CHART_DAYS)
    return render(
        request,
        "dashboard.html",
        user,
        by_type=by_type,
        platforms=platforms,
        top=top,
        chart_data={"days": days, "series": {"Events": [per_day.get(day, 0) for day in days]}},
    )


def install(app: FastAPI) -> None:
    """Routes, static files and the console's own answers to signed-out and refused requests."""
    # identity before people: its /console/people/merge is not a person id
    routers = (
        router,
        identity.router,
        people.router,
        catalog.router,
        segments.router,
        webhooks.router,
        flows.router,
        messages.router,
    )
    for console_router in routers:
        app.include_router(console_router)
    app.mount("/console/static", StaticFiles(directory=HERE / "static"), name="console-static")
    app.add_exception_handler(SignedOut, signed_out_response)  # type: ignore[arg-type]
    app.add_exception_handler(Denied, denied_response)  # type: ignore[arg-type]
    app.add_middleware(ConsoleHeaders)
