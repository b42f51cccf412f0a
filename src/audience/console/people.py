"""People pages: search, and a profile with identities, attributes, tags, devices, events,
a chart of events per day and the audit trail. Changes go through the persons services."""

from datetime import date, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import Connection

from audience.attributes import queries as attribute_queries
from audience.auth.dependencies import Db
from audience.clock import utcnow
from audience.console import forms, identity
from audience.console import queries as console_queries
from audience.console.pages import User, Writer, attempt, back, render
from audience.errors import ApiError, NoRegistration, ValidationFailed
from audience.events import queries as event_queries
from audience.events.service import event_to_api, person_history
from audience.events.standard import STANDARD_EVENTS
from audience.flows import queries as flow_queries
from audience.flows.service import run_to_api
from audience.installations import queries as installation_queries
from audience.installations.service import get_installation, installation_to_api, set_primary
from audience.pagination import decode_cursor, encode_cursor
from audience.persons import queries, service
from audience.persons.audit import Audit, change_to_api
from audience.persons.personalize import depersonalize
from audience.persons.routes import write_identities
from audience.persons.schemas import PersonUpdate, TagChanges

router = APIRouter(prefix="/console/people", include_in_schema=False)
PAGE_SIZE = 25
TIMELINE_SIZE = 50
AUDIT_SIZE = 50
CHART_DAYS = 90


@router.get("", response_class=HTMLResponse)
def list_people(
    request: Request,
    user: User,
    db: Db,
    q: str | None = None,
    type: str | None = None,
    tag: str | None = None,
    cursor: str | None = None,
) -> HTMLResponse:
    after = decode_cursor(cursor, 1) if cursor else None
    type_ = type if type in ("ANONYMOUS", "IDENTIFIED") else None
    with db.read() as conn:
        rows = queries.list_persons(
            conn,
            type_=type_,
            tag=tag or None,
            external_user_id=None,
            updated_since=None,
            after_id=after[0] if after else None,
            limit=PAGE_SIZE,
            search=(q or "").strip() or None,
        )
        shown = rows[:PAGE_SIZE]
        people = [service.person_to_api(conn, row) for row in shown]
        tags = [row.tag for row in queries.tag_counts(conn, None, 200)]
    next_cursor = encode_cursor([shown[-1].id]) if len(rows) > PAGE_SIZE else None
    return render(
        request,
        "people.html",
        user,
        people=people,
        tags=tags,
        filters={"q": q or "", "type": type_ or "", "tag": tag or ""},
        next_cursor=next_cursor,
    )


def _day_bounds(
    raw_from: str | None, raw_to: str | None
) -> tuple[datetime | None, datetime | None]:
    """Date inputs (``YYYY-MM-DD``) as inclusive UTC bounds of whole days."""
    try:
        since = (
            datetime.combine(date.fromisoformat(raw_from), datetime.min.time())
            if raw_from
            else None
        )
        until = (
            datetime.combine(date.fromisoformat(raw_to), datetime.max.time()).replace(
                microsecond=999000
            )
            if raw_to
            else None
        )
    except ValueError:
        raise ValidationFailed("Dates must be YYYY-MM-DD") from None
    return since, until


def _timeline(
    conn: Connection, person_id: str, filters: dict[str, str], before: str | None
) -> dict[str, Any]:
    since, until = _day_bounds(filters["from"] or None, filters["to"] or None)
    after_key = decode_cursor(before, 2) if before else None
    after = (
        (datetime.fromisoformat(after_key[0].rstrip("Z")), int(after_key[1])) if after_key else None
    )
    owner, rows = person_history(
        conn,
        person_id,
        definition_id=filters["definitionId"] or None,
        since=since,
        until=until,
        push_registration_id=filters["device"] or None,
        after=after,
        limit=TIMELINE_SIZE,
    )
    shown = rows[:TIMELINE_SIZE]
    more = len(rows) > TIMELINE_SIZE
    return {
        "events": [event_to_api(row, owner) for row in shown],
        "older": encode_cursor([shown[-1].occurred_at.isoformat(), int(shown[-1].id)])
        if more
        else None,
    }


@router.get("/{person_id}", response_class=HTMLResponse, response_model=None)
def person_page(
    request: Request, person_id: str, user: User, db: Db, before: str | None = None
) -> Response:
    params = request.query_params
    filters = {name: params.get(name, "") for name in ("definitionId", "from", "to", "device")}
    now = utcnow()
    start = (now - timedelta(days=CHART_DAYS - 1)).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    timeline_error = None
    with db.read() as conn:
        try:
            row = service.get_person(conn, person_id)
        except ApiError as exc:
            return render(request, "not_found.html", user, status=404, message=exc.message)
        if row.id != person_id:  # a merged-away id shows the survivor
            return RedirectResponse(f"/console/people/{row.id}", status_code=303)
        person = service.person_to_api(conn, row)
        ids = queries.profile_ids(conn, row.id)
        try:
            timeline = _timeline(conn, row.id, filters, before)
        except ApiError as exc:
            timeline, timeline_error = {"events": [], "older": None}, exc.message
        definitions = attribute_queries.list_definitions(conn, "person", None, 200)[:200]
        devices = [
            installation_to_api(d) for d in installation_queries.all_for_person(conn, row.id)
        ]
        per_day = console_queries.events_per_day(conn, start, ids)
        changes = [change_to_api(c) for c in queries.list_changes(conn, ids, None, AUDIT_SIZE)]
        merges = identity.merge_history(conn, ids)
        segment_list = identity.segment_verdicts(conn, row)
        flow_runs = [
            run_to_api(run)
            for run in flow_queries.runs_page(conn, person_ids=ids, after=None, limit=AUDIT_SIZE)
        ]
        event_names = sorted(STANDARD_EVENTS) + [
            d.id for d in event_queries.list_definitions(conn, None, None, 500)
        ]
    days = console_queries.day_range(now.date(), CHART_DAYS)
    custom = person["customAttributes"]
    attributes = [
        {
            "name": d.name,
            "type": d.type,
            "description": d.description,
            "value": forms.input_value(d.type, custom.get(d.name)),
        }
        for d in definitions
    ]
    return render(
        request,
        "person.html",
        user,
        person=person,
        attributes=attributes,
        devices=devices,
        timeline=timeline,
        timeline_error=timeline_error,
        filters=filters,
        event_names=event_names,
        changes=changes,
        merges=merges,
        segments=segment_list,
        flow_runs=flow_runs,
        chart_data={"days": days, "series": {"Events": [per_day.get(day, 0) for day in days]}},
    )


def _update(db: Any, person_id: str, source: str, fields: dict[str, Any]) -> str | None:
    """One person PATCH through the service (validated as the API validates it)."""

    def work(conn: Connection) -> None:
        sent = PersonUpdate.model_validate(fields).sent()
        row = service.get_person(conn, person_id, for_update=True)
        service.update_person(conn, row, sent, Audit(source, utcnow()))

    _result, error = attempt(db, work, write_identities)
    return error


def _page(person_id: str) -> str:
    return f"/console/people/{person_id}"


@router.post("/{person_id}/attributes")
def save_attributes(person_id: str, writer: Writer, db: Db) -> RedirectResponse:
    user, form = writer
    fields = {
        name: forms.text(form, name)
        for name in ("firstName", "lastName", "middleName", "gender", "birthday")
    }
    error = _update(db, person_id, user.key.source, fields)
    return back(_page(person_id), None if error else "Attributes saved", error)


@router.post("/{person_id}/identities")
def save_identities(person_id: str, writer: Writer, db: Db) -> RedirectResponse:
    user, form = writer
    fields = {
        "externalUserId": forms.text(form, "externalUserId"),
        "emails": forms.lines(form, "emails"),
        "phones": forms.lines(form, "phones"),
    }
    error = _update(db, person_id, user.key.source, fields)
    return back(_page(person_id), None if error else "Identities saved", error)


@router.post("/{person_id}/custom-attributes")
def save_custom_attribute(person_id: str, writer: Writer, db: Db) -> RedirectResponse:
    user, form = writer
    name = forms.text(form, "name") or ""
    with db.read() as conn:
        definition = attribute_queries.find(conn, name)
    if definition is None or definition.scope != "person":
        return back(_page(person_id), error=f"No person attribute named '{name}'")
    try:
        value = forms.attribute_value(name, definition.type, forms.text(form, "value"))
    except ApiError as exc:
        return back(_page(person_id), error=exc.message)
    error = _update(db, person_id, user.key.source, {"customAttributes": {name: value}})
    return back(_page(person_id), None if error else f"{name} saved", error)


def _change_tags(db: Any, person_id: str, source: str, changes: dict[str, list[str]]) -> str | None:
    def work(conn: Connection) -> None:
        spec = TagChanges.model_validate(changes)
        row = service.get_person(conn, person_id, for_update=True)
        service.update_person(conn, row, {"tags": spec}, Audit(source, utcnow()))

    _result, error = attempt(db, work)
    return error


@router.post("/{person_id}/tags")
def add_tag(person_id: str, writer: Writer, db: Db) -> RedirectResponse:
    user, form = writer
    tags = forms.lines(form, "tag")
    if not tags:
        return back(_page(person_id), error="Type a tag to add")
    error = _change_tags(db, person_id, user.key.source, {"add": tags})
    return back(_page(person_id), None if error else f"Tag {', '.join(tags)} added", error)


@router.post("/{person_id}/tags/remove")
def remove_tag(person_id: str, writer: Writer, db: Db) -> RedirectResponse:
    user, form = writer
    tag = forms.text(form, "tag") or ""
    error = _change_tags(db, person_id, user.key.source, {"remove": [tag]})
    return back(_page(person_id), None if error else f"Tag {tag} removed", error)


def _own_device(conn: Connection, person_id: str, push_registration_id: str) -> Any:
    """A live device of this person; anything else is 404 (as on the API)."""
    person = service.get_person(conn, person_id, for_update=True)
    row = get_installation(conn, push_registration_id, for_update=True)
    if row.person_id != person.id or row.uninstalled_at is not None:
        raise NoRegistration("Not a live device of this person")
    return row


@router.post("/{person_id}/devices/{push_registration_id}/primary")
def make_primary(
    person_id: str, push_registration_id: str, writer: Writer, db: Db
) -> RedirectResponse:
    _result, error = attempt(
        db, lambda conn: set_primary(conn, _own_device(conn, person_id, push_registration_id), True)
    )
    return back(_page(person_id), None if error else "Primary device set", error)


@router.post("/{person_id}/devices/{push_registration_id}/depersonalize")
def depersonalize_device(
    person_id: str, push_registration_id: str, writer: Writer, db: Db
) -> RedirectResponse:
    user, _form = writer

    def work(conn: Connection) -> None:
        row = _own_device(conn, person_id, push_registration_id)
        depersonalize(conn, row, row.application_code, Audit(user.key.source, utcnow()))

    _result, error = attempt(db, work)
    return back(_page(person_id), None if error else "Device depersonalized", error)
