"""Flow rules as plain functions: save (checked whole, versioned), enable, delete, runs, and what
merges and deletions of persons do to runs."""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row

from audience.clock import isoformat, utcnow
from audience.errors import ApiError
from audience.flows import queries
from audience.flows.definition import Checker
from audience.ids import new_id
from audience.push.service import send_to_person
from audience.segments import queries as segment_queries
from audience.webhooks.service import get_endpoint

DEFINITION_FIELDS = ("trigger", "entry", "reentry", "steps")


def flow_not_found(flow_id: str) -> ApiError:
    return ApiError(404, "FLOW_NOT_FOUND", f"No flow with id {flow_id}")


def check_definition(conn: Connection, raw: dict[str, Any]) -> dict[str, Any]:
    """The definition as stored, or a 400 naming the JSON path of the first problem."""
    checker = Checker(
        segment_queries.load_definitions(conn),
        segment_exists=lambda segment_id: segment_queries.find(conn, segment_id) is not None,
        webhook_exists=lambda webhook_id: _webhook_exists(conn, webhook_id),
        push_check=lambda content: _check_push(conn, content),
    )
    return checker.definition(raw)


def _check_push(conn: Connection, content: dict[str, Any]) -> None:
    """A sendPush step's content is checked by creating the message it would send (templates,
    application, fields) in a savepoint that is then rolled back."""
    fields = {k: v for k, v in content.items() if k != "applicationCode"}
    savepoint = conn.begin_nested()
    try:
        send_to_person(conn, content["applicationCode"], "flow-definition-check", fields)
    finally:
        savepoint.rollback()


def _webhook_exists(conn: Connection, webhook_id: str) -> bool:
    try:
        get_endpoint(conn, webhook_id)
    except ApiError:
        return False
    return True


def flow_to_api(row: Row, counts: dict[str, int] | None = None) -> dict[str, Any]:
    definition = row.definition
    answer = {
        "id": row.id,
        "name": row.name,
        "version": row.version,
        "enabled": row.enabled,
        "trigger": definition["trigger"],
        "entry": definition.get("entry"),
        "reentry": definition.get("reentry", "once"),
        "steps": definition["steps"],
        "createdAt": isoformat(row.created_at),
        "updatedAt": isoformat(row.updated_at),
    }
    if counts is not None:
        answer["runs"] = {
            status: counts.get(status, 0)
            for status in ("active", "waiting", "completed", "exited", "failed")
        }
    return answer


def run_to_api(row: Row) -> dict[str, Any]:
    return {
        "id": row.id,
        "flowId": row.flow_id,
        "version": row.version,
        "personId": row.person_id,
        "status": row.status,
        "step": row.step,
        "trigger": {k: v for k, v in row.trigger.items() if k != "chain"},
        "startedAt": isoformat(row.started_at),
        "updatedAt": isoformat(row.updated_at),
        "log": row.log,
    }


def create_flow(conn: Connection, name: str, raw: dict[str, Any], enabled: bool) -> dict[str, Any]:
    definition = check_definition(conn, raw)
    now = utcnow()
    flow_id = new_id()
    queries.insert_flow(
        conn,
        id=flow_id,
        name=name,
        version=1,
        definition=definition,
        enabled=enabled,
        created_at=now,
        updated_at=now,
    )
    return get_flow(conn, flow_id)


def get_flow(conn: Connection, flow_id: str) -> dict[str, Any]:
    row = queries.find_flow(conn, flow_id)
    if row is None:
        raise flow_not_found(flow_id)
    return flow_to_api(row, queries.run_counts(conn, [flow_id])[flow_id])


def update_flow(conn: Connection, flow_id: str, changes: dict[str, Any]) -> dict[str, Any]:
    """A change of trigger, entry, reentry or steps is a new version; runs keep theirs."""
    row = queries.find_flow(conn, flow_id, for_update=True)
    if row is None:
        raise flow_not_found(flow_id)
    values: dict[str, Any] = {}
    if changes.get("name") is not None:
        values["name"] = changes["name"]
    if changes.get("enabled") is not None:
        values["enabled"] = changes["enabled"]
    if any(field in changes for field in DEFINITION_FIELDS):
        merged = {**row.definition, **{k: changes[k] for k in DEFINITION_FIELDS if k in changes}}
        definition = check_definition(conn, merged)
        if definition != row.definition:
            values["definition"] = definition
            values["version"] = row.version + 1
    if values:
        values["updated_at"] = utcnow()
        queries.update_flow(conn, flow_id, **values)
    return get_flow(conn, flow_id)


def delete_flow(conn: Connection, flow_id: str) -> None:
    """The flow goes; its unfinished runs exit (their history stays on the persons)."""
    if queries.find_flow(conn, flow_id, for_update=True) is None:
        raise flow_not_found(flow_id)
    exit_runs(conn, queries.active_runs(conn, flow_id=flow_id), "flow deleted")
    queries.delete_flow(conn, flow_id)


def exit_runs(
    conn: Connection, runs: Sequence[Row], reason: str, now: datetime | None = None
) -> None:
    now = now or utcnow()
    for run in runs:
        log = [*run.log, {"at": isoformat(now), "step": None, "type": "exited", "detail": reason}]
        queries.save_run(conn, run.id, status="exited", step=None, log=log, updated_at=now)


def on_person_deleted(conn: Connection, person_ids: Sequence[str]) -> None:
    exit_runs(conn, queries.active_runs(conn, person_ids=person_ids), "person deleted")


def on_person_merged(conn: Connection, merged_id: str, survivor_id: str) -> None:
    """The merged person's unfinished runs move to the survivor, unless it already has an
    unfinished run of that flow: then they exit with reason ``merged``."""
    survivor_flows = {run.flow_id for run in queries.active_runs(conn, person_ids=[survivor_id])}
    now = utcnow()
    for run in queries.active_runs(conn, person_ids=[merged_id]):
        if run.flow_id in survivor_flows:
            exit_runs(conn, [run], "merged", now)
        else:
            queries.save_run(conn, run.id, person_id=survivor_id, updated_at=now)
