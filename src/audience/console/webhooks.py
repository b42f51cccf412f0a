"""Webhooks pages: endpoints listed and created, one endpoint's settings (enable/disable,
rotate the secret) and its latest deliveries with a redeliver button; through the same
models and services as the API. A secret is shown once, on the page that created it."""

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import Connection

from audience.auth.dependencies import Db
from audience.console import forms
from audience.console.pages import User, Writer, attempt, back, render
from audience.webhooks import queries, service
from audience.webhooks.routes import WebhookCreate, delivery_to_api

router = APIRouter(prefix="/console/webhooks", include_in_schema=False)
PAGE = "/console/webhooks"
LIMIT = 500
DELIVERIES_SHOWN = 50


@router.get("", response_class=HTMLResponse)
def webhooks_page(request: Request, user: User, db: Db) -> HTMLResponse:
    with db.read() as conn:
        rows = queries.list_endpoints(conn, None, LIMIT)[:LIMIT]
    endpoints = [service.endpoint_to_api(row) for row in rows]
    return render(request, "webhooks.html", user, endpoints=endpoints)


def _endpoint_page(
    request: Request, user: User, db: Db, webhook_id: str, secret: str | None = None
) -> HTMLResponse:
    with db.read() as conn:
        endpoint = service.endpoint_to_api(service.get_endpoint(conn, webhook_id))
        rows = queries.list_deliveries(conn, webhook_id, None, DELIVERIES_SHOWN)
    return render(
        request,
        "webhook.html",
        user,
        endpoint=endpoint,
        secret=secret,
        deliveries=[delivery_to_api(row) for row in rows[:DELIVERIES_SHOWN]],
    )


@router.post("", response_model=None)
def create_webhook(request: Request, writer: Writer, db: Db) -> Response:
    user, form = writer
    allow_private = bool(request.app.state.settings.webhook_allow_private)

    def work(conn: Connection) -> dict[str, Any]:
        body = WebhookCreate.model_validate(
            {
                "url": forms.text(form, "url") or "",
                "types": forms.lines(form, "types"),
                "description": forms.text(form, "description"),
            }
        )
        return service.create_endpoint(
            conn, body.url, body.types, body.description, True, allow_private
        )

    created, error = attempt(db, work)
    if created is None:
        return back(PAGE, None, error)
    return _endpoint_page(request, user, db, created["id"], created["secret"])


@router.get("/{webhook_id}", response_class=HTMLResponse, response_model=None)
def webhook_page(webhook_id: str, request: Request, user: User, db: Db) -> Response:
    with db.read() as conn:
        if queries.find_endpoint(conn, webhook_id) is None:
            return render(request, "not_found.html", user, status=404, message="No such webhook")
    return _endpoint_page(request, user, db, webhook_id)


@router.post("/{webhook_id}/enabled")
def set_enabled(webhook_id: str, request: Request, writer: Writer, db: Db) -> RedirectResponse:
    _user, form = writer
    enabled = forms.text(form, "enabled") == "on"
    allow_private = bool(request.app.state.settings.webhook_allow_private)
    _result, error = attempt(
        db,
        lambda conn: service.update_endpoint(conn, webhook_id, {"enabled": enabled}, allow_private),
    )
    notice = None if error else ("Endpoint enabled" if enabled else "Endpoint disabled")
    return back(f"{PAGE}/{webhook_id}", notice, error)


@router.post("/{webhook_id}/secret", response_model=None)
def rotate_secret(webhook_id: str, request: Request, writer: Writer, db: Db) -> Response:
    user, _form = writer
    rotated, error = attempt(db, lambda conn: service.rotate_secret(conn, webhook_id))
    if rotated is None:
        return back(PAGE, None, error)
    return _endpoint_page(request, user, db, webhook_id, rotated["secret"])


@router.post("/{webhook_id}/deliveries/{delivery_id}/retry")
def redeliver(webhook_id: str, delivery_id: str, writer: Writer, db: Db) -> RedirectResponse:
    _result, error = attempt(db, lambda conn: service.redeliver(conn, webhook_id, delivery_id))
    return back(f"{PAGE}/{webhook_id}", None if error else "Delivery queued again", error)
