"""Flows pages: the list with run counts, a flow's steps (readable, editable as JSON), enable /
disable, and its runs — through the same service as the API."""

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import Connection

from audience.auth.dependencies import Db
from audience.console import forms
from audience.console.pages import User, Writer, attempt, back, render
from audience.errors import ApiError, validation_error
from audience.flows import queries, service
from audience.flows.definition import step_type

router = APIRouter(prefix="/console/flows", include_in_schema=False)
PAGE = "/console/flows"
LIMIT = 500
RUNS_SHOWN = 100


@router.get("", response_class=HTMLResponse)
def flows_page(request: Request, user: User, db: Db) -> HTMLResponse:
    with db.read() as conn:
        rows = queries.list_flows(conn, None, LIMIT)
        counts = queries.run_counts(conn, [row.id for row in rows])
        flows = [service.flow_to_api(row, counts[row.id]) for row in rows]
    return render(request, "flows.html", user, flows=flows)


@router.get("/{flow_id}", response_class=HTMLResponse)
def flow_page(request: Request, flow_id: str, user: User, db: Db) -> HTMLResponse:
    with db.read() as conn:
        try:
            flow = service.get_flow(conn, flow_id)
        except ApiError as exc:
            return render(request, "not_found.html", user, status=404, message=exc.message)
        runs = [
            service.run_to_api(row)
            for row in queries.runs_page(conn, flow_id=flow_id, after=None, limit=RUNS_SHOWN)
        ]
    definition = {k: flow[k] for k in ("trigger", "entry", "reentry", "steps")}
    return render(
        request,
        "flow.html",
        user,
        flow=flow,
        outline=outline(flow["steps"]),
        definition=json.dumps(definition, indent=2),
        runs=runs,
    )


def outline(steps: list[Any], depth: int = 0, prefix: str = "") -> list[dict[str, Any]]:
    """The steps as indented lines a person can read ("wait 1 day", "if … then")."""
    lines: list[dict[str, Any]] = []
    for index, step in enumerate(steps):
        kind = step_type(step)
        path = f"{prefix}{index}"
        text = describe(kind, step) if kind else json.dumps(step)
        lines.append({"depth": depth, "path": path, "text": text})
        if kind == "if":
            for branch in ("then", "else"):
                if step.get(branch):
                    lines.append({"depth": depth + 1, "path": "", "text": branch})
                    lines += outline(step[branch], depth + 2, f"{path}.{branch}.")
    return lines


def describe(kind: str, step: dict[str, Any]) -> str:
    body: Any = step[kind]
    if kind == "wait":
        seconds = int(body["seconds"])
        for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
            if seconds % size == 0:
                count = seconds // size
                return f"wait {count} {unit}{'s' if count != 1 else ''}"
        return f"wait {seconds} seconds"
    if kind == "if":
        return f"if {json.dumps(body)}"
    if kind in ("addTags", "removeTags"):
        return f"{'add' if kind == 'addTags' else 'remove'} tags {', '.join(body)}"
    if kind == "exit":
        return "exit"
    return f"{kind} {json.dumps(body)}"


def _definition(form: Any) -> dict[str, Any]:
    raw = forms.text(form, "definition") or ""
    try:
        parsed = json.loads(raw)
    except ValueError:
        raise validation_error("definition: not valid JSON", "definition") from None
    if not isinstance(parsed, dict):
        raise validation_error("definition: expected a JSON object", "definition")
    return parsed


@router.post("")
def create_flow(writer: Writer, db: Db) -> RedirectResponse:
    _user, form = writer
    name = forms.text(form, "name") or "Untitled flow"

    def work(conn: Connection) -> dict[str, Any]:
        return service.create_flow(conn, name, _definition(form), enabled=False)

    created, error = attempt(db, work)
    if created is None:
        return back(PAGE, None, error)
    return back(f"{PAGE}/{created['id']}", "Flow created (disabled until you enable it)")


@router.post("/{flow_id}")
def edit_flow(flow_id: str, writer: Writer, db: Db) -> RedirectResponse:
    _user, form = writer

    def work(conn: Connection) -> dict[str, Any]:
        return service.update_flow(conn, flow_id, _definition(form))

    saved, error = attempt(db, work)
    notice = f"Saved as version {saved['version']}" if saved else None
    return back(f"{PAGE}/{flow_id}", notice, error)


@router.post("/{flow_id}/enabled")
def toggle_flow(flow_id: str, writer: Writer, db: Db) -> RedirectResponse:
    _user, form = writer
    enabled = forms.text(form, "enabled") == "true"
    _saved, error = attempt(
        db, lambda conn: service.update_flow(conn, flow_id, {"enabled": enabled})
    )
    notice = None if error else ("Enabled" if enabled else "Disabled")
    return back(f"{PAGE}/{flow_id}", notice, error)
