"""Segments pages: the list with sizes, a rule builder with a live preview count, a segment's
members, its size over time (from SegmentEntered/SegmentLeft) and a resolve preview."""

import json
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Body, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy import Connection

from audience.attributes import queries as attribute_queries
from audience.auth.dependencies import Db
from audience.clock import utcnow
from audience.console import forms
from audience.console import queries as console_queries
from audience.console.pages import Denied, User, Writer, attempt, back, check_origin, render
from audience.errors import ApiError, validation_error
from audience.events import queries as event_queries
from audience.events.standard import STANDARD_EVENTS
from audience.segments import queries, service
from audience.segments.routes import ResolveRequest, SegmentCreate
from audience.segments.rules import (
    COUNT_OPS,
    INSTALLATION_ATTRIBUTES,
    OPS_BY_TYPE,
    PERSON_ATTRIBUTES,
    STANDARD_EVENT_PROPERTIES,
)

router = APIRouter(prefix="/console/segments", include_in_schema=False)
LIMIT = 500
MEMBERS_SHOWN = 50
RESOLVE_SHOWN = 50
CHART_DAYS = 90
RESOLVE_FLAGS = ("primaryDeviceOnly", "pushRegistrationEnabledOnly", "notificationsEnabledOnly")


@router.get("", response_class=HTMLResponse)
def segments_page(request: Request, user: User, db: Db) -> HTMLResponse:
    with db.read() as conn:
        rows = queries.list_segments(conn, None, LIMIT)[:LIMIT]
    segments = [service.segment_to_api(row, row.size) for row in rows]
    return render(request, "segments.html", user, segments=segments)


def _vocabulary(conn: Connection) -> dict[str, Any]:
    """What the builder offers: attributes with their types, events with their properties."""
    attributes = attribute_queries.list_definitions(conn, None, None, LIMIT)[:LIMIT]
    custom_events = event_queries.list_definitions(conn, None, None, LIMIT)[:LIMIT]
    events = {name: dict(STANDARD_EVENT_PROPERTIES) for name in sorted(STANDARD_EVENTS)}
    events.update({row.id: dict(row.properties or {}) for row in custom_events})
    return {
        "person": PERSON_ATTRIBUTES,
        "installation": INSTALLATION_ATTRIBUTES,
        "custom": {row.name: row.type for row in attributes if row.scope == "person"},
        "installationCustom": {
            row.name: row.type for row in attributes if row.scope == "installation"
        },
        "events": events,
        "ops": {type_: sorted(ops) for type_, ops in OPS_BY_TYPE.items()},
        "countOps": list(COUNT_OPS),
    }


def _builder(request: Request, user: User, db: Db, segment: dict[str, Any] | None) -> HTMLResponse:
    with db.read() as conn:
        vocabulary = _vocabulary(conn)
    rule = segment["rule"] if segment else {"all": []}
    return render(
        request,
        "builder.html",
        user,
        segment=segment,
        builder={"vocabulary": vocabulary, "rule": rule},
    )


@router.get("/new", response_class=HTMLResponse)
def new_segment(request: Request, user: User, db: Db) -> HTMLResponse:
    return _builder(request, user, db, None)


@router.get("/{segment_id}/edit", response_class=HTMLResponse, response_model=None)
def edit_segment(request: Request, segment_id: str, user: User, db: Db) -> Response:
    with db.read() as conn:
        row = queries.find(conn, segment_id)
    if row is None:
        return render(request, "not_found.html", user, status=404, message="No such segment")
    return _builder(request, user, db, service.segment_to_api(row))


@router.post("/preview")
def preview(
    request: Request, user: User, db: Db, body: Annotated[dict[str, Any], Body()]
) -> JSONResponse:
    """The builder's live count; reading only, so a read key may use it (CSRF still applies)."""
    check_origin(request)
    if request.headers.get("x-csrf-token") != user.csrf_token:
        raise Denied("The page's security token is missing or stale; reload the page")
    try:
        with db.read() as conn:
            result = service.preview(conn, body.get("rule"))
    except ApiError as exc:
        return JSONResponse({"error": {"message": exc.message, "field": exc.field}}, 400)
    return JSONResponse(result)


def _segment_fields(form: Any) -> dict[str, Any]:
    raw_rule = forms.text(form, "rule") or ""
    try:
        rule = json.loads(raw_rule)
    except ValueError:
        raise validation_error("The rule is not valid JSON", "rule") from None
    return SegmentCreate.model_validate(
        {
            "name": forms.text(form, "name"),
            "description": forms.text(form, "description"),
            "rule": rule,
        }
    ).model_dump()


@router.post("")
def create_segment(writer: Writer, db: Db) -> RedirectResponse:
    _user, form = writer

    def work(conn: Connection) -> dict[str, Any]:
        fields = _segment_fields(form)
        return service.create_segment(conn, fields["name"], fields["description"], fields["rule"])

    created, error = attempt(db, work)
    if created is None:
        return back("/console/segments/new", error=error)
    created = service.finish_saving(db, created["id"])
    return back(f"/console/segments/{created['id']}", f"Segment saved: {created['size']} members")


@router.post("/{segment_id}")
def update_segment(segment_id: str, writer: Writer, db: Db) -> RedirectResponse:
    _user, form = writer
    updated, error = attempt(
        db, lambda conn: service.update_segment(conn, segment_id, _segment_fields(form))
    )
    if updated is None:
        return back(f"/console/segments/{segment_id}/edit", error=error)
    updated = service.finish_saving(db, segment_id)
    return back(f"/console/segments/{segment_id}", f"Segment saved: {updated['size']} members")


@router.post("/{segment_id}/delete")
def delete_segment(segment_id: str, writer: Writer, db: Db) -> RedirectResponse:
    def work(conn: Connection) -> None:
        service.get_segment(conn, segment_id)
        queries.delete_segment(conn, segment_id)

    _result, error = attempt(db, work)
    if error:
        return back(f"/console/segments/{segment_id}", error=error)
    return back("/console/segments", "Segment deleted")


def _size_history(conn: Connection, segment_id: str, size: int) -> dict[str, Any]:
    """Size at the end of each day, counted back from today's size by each day's net change
    (so members dropped without an event, e.g. by a merge, do not skew today's figure)."""
    now = utcnow()
    days = console_queries.day_range(now.date(), CHART_DAYS)
    start = (now - timedelta(days=CHART_DAYS - 1)).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    net = console_queries.segment_changes_per_day(conn, segment_id, start)
    sizes: list[int] = []
    current = size
    for day in reversed(days):
        sizes.append(max(current, 0))
        current -= net.get(day, 0)
    return {"days": days, "series": {"Members": list(reversed(sizes))}}


@router.get("/{segment_id}", response_class=HTMLResponse, response_model=None)
def segment_page(request: Request, segment_id: str, user: User, db: Db) -> Response:
    params = request.query_params
    resolve_form: dict[str, Any] = {flag: params.get(flag) == "true" for flag in RESOLVE_FLAGS}
    resolve_form["platform"] = params.get("platform") or ""
    resolve_form["applicationCode"] = params.get("applicationCode") or ""
    resolved, resolve_error = None, None
    with db.read() as conn:
        row = queries.find(conn, segment_id)
        if row is None:
            return render(request, "not_found.html", user, status=404, message="No such segment")
        size = service.size_of(conn, row)
        members = [
            service.member_to_api(m) for m in queries.members(conn, segment_id, None, MEMBERS_SHOWN)
        ][:MEMBERS_SHOWN]
        chart = _size_history(conn, segment_id, size)
        if "resolve" in params:
            try:
                request_body = ResolveRequest.model_validate(
                    {
                        "segmentId": segment_id,
                        **{
                            k: v if k in RESOLVE_FLAGS else v or None
                            for k, v in resolve_form.items()
                        },
                    }
                )
                rows = service.resolve(conn, request_body.model_dump(), None, RESOLVE_SHOWN)
                resolved = [service.target_to_api(r) for r in rows[:RESOLVE_SHOWN]]
            except (ApiError, ValueError) as exc:
                resolve_error = getattr(exc, "message", str(exc))
    return render(
        request,
        "segment.html",
        user,
        segment=service.segment_to_api(row, size),
        rule_json=json.dumps(row.rule, indent=2),
        members=members,
        chart_data=chart,
        resolve_form=resolve_form,
        resolved=resolved,
        resolve_error=resolve_error,
        more_members=size > MEMBERS_SHOWN,
    )
