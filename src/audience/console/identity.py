"""Identity pages: merge two people (dry-run preview, then confirm), undo a merge from the
profile's merge history, and explain why a person is or is not in a segment."""

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import Connection, Row

from audience.auth.dependencies import Db
from audience.clock import utcnow
from audience.console import forms
from audience.console.pages import User, Writer, attempt, back, error_text, render
from audience.errors import ApiError
from audience.persons import merge_journal, service
from audience.persons.audit import Audit
from audience.persons.operator_merge import DryRun, operator_merge
from audience.persons.routes import write_identities
from audience.persons.undo import undo_merge
from audience.segments import queries as segment_queries
from audience.segments import service as segment_service
from audience.segments.explain import Explainer

router = APIRouter(prefix="/console/people", include_in_schema=False)
HISTORY_SIZE = 20
SEGMENTS_SHOWN = 100


def merge_history(conn: Connection, ids: list[str]) -> list[dict[str, Any]]:
    """The profile's merges, newest first, for its page."""
    rows = merge_journal.list_for(conn, ids, None, HISTORY_SIZE)[:HISTORY_SIZE]
    return [merge_journal.merge_to_api(row) for row in rows]


def segment_verdicts(conn: Connection, person: Row) -> list[dict[str, Any]]:
    """Saved segments with whether the person is a stored member (each links to why)."""
    member_of = segment_queries.memberships_of(conn, person.id)
    rows = segment_queries.list_segments(conn, None, SEGMENTS_SHOWN)[:SEGMENTS_SHOWN]
    return [{"id": row.id, "name": row.name, "member": row.id in member_of} for row in rows]


def _preview(db: Any, first: str, second: str, source: str) -> dict[str, Any]:
    """The dry run of the API: the real merge, rolled back."""
    try:
        with db.write() as conn:
            operator_merge(conn, first, second, True, Audit(source, utcnow()))
    except DryRun as preview:
        return preview.answer
    raise AssertionError("a dry run always rolls back")


@router.get("/merge", response_class=HTMLResponse)
def merge_form(
    request: Request, user: User, db: Db, a: str | None = None, b: str | None = None
) -> HTMLResponse:
    preview, preview_error, merged = None, None, None
    if a and b:
        try:
            preview = _preview(db, a.strip(), b.strip(), user.key.source)
            with db.read() as conn:
                row = service.get_person(conn, preview["mergedPersonId"])
                merged = service.person_to_api(conn, row)
        except ApiError as exc:
            preview_error = exc.message
    return render(
        request,
        "merge.html",
        user,
        a=a or "",
        b=b or "",
        preview=preview,
        merged=merged,
        preview_error=preview_error,
    )


@router.post("/merge")
def merge(writer: Writer, db: Db) -> RedirectResponse:
    user, form = writer
    first, second = forms.text(form, "a") or "", forms.text(form, "b") or ""

    def work(conn: Connection) -> dict[str, Any]:
        return operator_merge(conn, first, second, False, Audit(user.key.source, utcnow()))

    answer, error = attempt(db, work, write_identities)
    if answer is None:
        return back(f"/console/people/merge?a={first}&b={second}", error=error)
    return back(f"/console/people/{answer['survivor']['id']}", "People merged")


@router.post("/{person_id}/merges/{merge_id}/undo")
def undo(person_id: str, merge_id: str, writer: Writer, db: Db) -> RedirectResponse:
    user, _form = writer

    def work(conn: Connection) -> tuple[str, str]:
        return undo_merge(conn, merge_id, Audit(user.key.source, utcnow()))

    result, error = attempt(db, work, write_identities)
    if result is None:
        return back(f"/console/people/{person_id}", error=error)
    return back(f"/console/people/{result[1]}", "Merge undone: this person is back")


@router.get("/{person_id}/explain/{segment_id}", response_class=HTMLResponse, response_model=None)
def explain(request: Request, person_id: str, segment_id: str, user: User, db: Db) -> Response:
    with db.read() as conn:
        try:
            person = service.get_person(conn, person_id)
            segment = segment_service.get_segment(conn, segment_id)
            rule = segment_service.parse(conn, segment.rule)
            tree = Explainer(conn, person).explain(segment.rule, rule)
        except ApiError as exc:
            return render(request, "not_found.html", user, status=404, message=error_text(exc))
        shown = service.person_to_api(conn, person)
    return render(request, "explain.html", user, person=shown, segment=segment, tree=tree)
