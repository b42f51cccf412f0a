"""Messages pages: compose a push message to a segment (audience count and the rendered
title/body for a sample person before sending), and the message list with status and counts."""

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import Connection

from audience.apps import queries as app_queries
from audience.auth.dependencies import Db
from audience.console import forms
from audience.console.pages import User, Writer, attempt, back, error_text, render
from audience.errors import ApiError
from audience.push import credentials, queries, service
from audience.segments import queries as segment_queries

router = APIRouter(prefix="/console/messages", include_in_schema=False)
LIMIT = 100


def _choices(conn: Connection) -> dict[str, Any]:
    apps = app_queries.list_apps(conn, None, LIMIT)[:LIMIT]
    return {
        "apps": [
            {
                "code": app.application_code,
                "name": app.name,
                "push": credentials.credentials_summary(conn, app.id),
            }
            for app in apps
        ],
        "segments": segment_queries.list_segments(conn, None, LIMIT)[:LIMIT],
    }


@router.get("", response_class=HTMLResponse)
def messages_page(request: Request, user: User, db: Db) -> HTMLResponse:
    params = request.query_params
    compose = {
        name: params.get(name) or "" for name in ("applicationCode", "segmentId", "title", "body")
    }
    preview, preview_error = None, None
    with db.read() as conn:
        choices = _choices(conn)
        rows = queries.list_messages(conn, None, LIMIT)[:LIMIT]
        messages = [service.message_to_api(conn, row, full=False) for row in rows]
        if "preview" in params:
            try:
                preview = service.sample_rendering(
                    conn,
                    compose["applicationCode"],
                    compose["segmentId"],
                    compose["title"],
                    compose["body"],
                )
            except ApiError as exc:
                preview_error = error_text(exc)
    return render(
        request,
        "messages.html",
        user,
        messages=messages,
        compose=compose,
        preview=preview,
        preview_error=preview_error,
        **choices,
    )


@router.post("")
def send_message(writer: Writer, db: Db) -> RedirectResponse:
    _user, form = writer

    def work(conn: Connection) -> dict[str, Any]:
        return service.create_message(
            conn,
            {
                "applicationCode": forms.text(form, "applicationCode") or "",
                "audience": {"segmentId": forms.text(form, "segmentId") or ""},
                "notification": {
                    "title": forms.text(form, "title") or "",
                    "body": forms.text(form, "body") or "",
                },
            },
        )

    created, error = attempt(db, work)
    if created is None:
        return back("/console/messages", error=error)
    return back("/console/messages", f"Message {created['id']} queued")
