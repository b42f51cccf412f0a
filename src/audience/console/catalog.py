"""Definitions pages: custom attribute and event definitions, listed, created and edited
through the same models and services as the API."""

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import Connection

from audience.attributes import queries as attribute_queries
from audience.attributes import service as attribute_service
from audience.attributes.routes import AttributeDefinitionCreate
from audience.auth.dependencies import Db
from audience.console import forms
from audience.console.pages import User, Writer, attempt, back, render
from audience.errors import validation_error
from audience.events import definitions as event_definitions
from audience.events import queries as event_queries
from audience.events.routes import EventDefinitionCreate, EventDefinitionUpdate

router = APIRouter(prefix="/console/definitions", include_in_schema=False)
PAGE = "/console/definitions"
LIMIT = 500


@router.get("", response_class=HTMLResponse)
def definitions_page(request: Request, user: User, db: Db) -> HTMLResponse:
    with db.read() as conn:
        attributes = [
            attribute_service.definition_to_api(row)
            for row in attribute_queries.list_definitions(conn, None, None, LIMIT)[:LIMIT]
        ]
        events = [
            event_definitions.definition_to_api(row)
            for row in event_queries.list_definitions(conn, None, None, LIMIT)[:LIMIT]
        ]
    return render(request, "definitions.html", user, attributes=attributes, events=events)


def _properties(raw: str | None) -> dict[str, Any]:
    """Event properties typed one per line as ``name: type`` (or as a JSON object)."""
    if not raw:
        return {}
    if raw.lstrip().startswith("{"):
        try:
            parsed = json.loads(raw)
        except ValueError:
            raise validation_error("properties: not valid JSON", "properties") from None
        return parsed if isinstance(parsed, dict) else {}
    properties: dict[str, Any] = {}
    for line in raw.splitlines():
        if line.strip():
            name, _, type_ = line.partition(":")
            properties[name.strip()] = type_.strip()
    return properties


@router.post("/attributes")
def create_attribute(writer: Writer, db: Db) -> RedirectResponse:
    _user, form = writer
    fields = {k: forms.text(form, k) for k in ("name", "type", "scope", "description")}

    def work(conn: Connection) -> None:
        body = AttributeDefinitionCreate.model_validate(fields)
        attribute_service.create_definition(conn, body.model_dump())

    _result, error = attempt(db, work)
    return back(PAGE, None if error else f"Attribute {fields['name']} defined", error)


@router.post("/attributes/{name}")
def edit_attribute(name: str, writer: Writer, db: Db) -> RedirectResponse:
    _user, form = writer
    description = forms.text(form, "description")
    _result, error = attempt(
        db, lambda conn: attribute_service.update_description(conn, name, description)
    )
    return back(PAGE, None if error else f"Attribute {name} saved", error)


@router.post("/events")
def create_event(writer: Writer, db: Db) -> RedirectResponse:
    _user, form = writer
    event_id = forms.text(form, "id")

    def work(conn: Connection) -> None:
        body = EventDefinitionCreate.model_validate(
            {
                "id": event_id,
                "description": forms.text(form, "description"),
                "properties": _properties(forms.text(form, "properties")),
                "active": form.get("active") is not None,
            }
        )
        event_definitions.create_definition(
            conn, body.id, body.description, dict(body.properties), body.active
        )

    _result, error = attempt(db, work)
    return back(PAGE, None if error else f"Event {event_id} defined", error)


@router.post("/events/{definition_id}")
def edit_event(definition_id: str, writer: Writer, db: Db) -> RedirectResponse:
    _user, form = writer

    def work(conn: Connection) -> None:
        body = EventDefinitionUpdate.model_validate(
            {
                "description": forms.text(form, "description"),
                "properties": _properties(forms.text(form, "properties")),
                "active": form.get("active") is not None,
            }
        )
        event_definitions.update_definition(conn, definition_id, body.sent())

    _result, error = attempt(db, work)
    return back(PAGE, None if error else f"Event {definition_id} saved", error)
