"""``/v1/flows`` (create, list, read, update, enable/disable, delete, runs) and a person's runs."""

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Response
from pydantic import BaseModel

from audience.auth.dependencies import Db, ReadKey, WriteKey
from audience.flows import queries, service
from audience.models import ApiModel, Name, answers
from audience.pagination import DEFAULT_LIMIT, Cursor, Limit, decode_after, decode_cursor, page
from audience.persons.queries import profile_ids
from audience.persons.service import live_person_id

router = APIRouter(tags=["flows"])

Reentry = Literal["once", "always"] | dict[str, int]


class FlowCreate(ApiModel):
    name: Name
    trigger: dict[str, Any]
    entry: dict[str, Any] | None = None
    reentry: Reentry = "once"
    steps: list[Any]
    enabled: bool = True


class FlowUpdate(ApiModel):
    name: Name | None = None
    trigger: dict[str, Any] | None = None
    entry: dict[str, Any] | None = None
    reentry: Reentry | None = None
    steps: list[Any] | None = None
    enabled: bool | None = None


class RunCounts(BaseModel):
    active: int
    waiting: int
    completed: int
    exited: int
    failed: int


class Flow(BaseModel):
    id: str
    name: str
    version: int
    enabled: bool
    trigger: dict[str, Any]
    entry: dict[str, Any] | None
    reentry: Reentry
    steps: list[Any]
    createdAt: str
    updatedAt: str
    runs: RunCounts | None = None


class FlowPage(BaseModel):
    items: list[Flow]
    nextCursor: str | None


class Run(BaseModel):
    id: str
    flowId: str
    version: int
    personId: str
    status: Literal["active", "waiting", "completed", "exited", "failed"]
    step: str | None
    trigger: dict[str, Any]
    startedAt: str
    updatedAt: str
    log: list[dict[str, Any]]


class RunPage(BaseModel):
    items: list[Run]
    nextCursor: str | None


def _definition_changes(body: BaseModel) -> dict[str, Any]:
    sent = body.model_dump(include=body.model_fields_set)
    return {name: sent[name] for name in sent}


@router.post("/v1/flows", **answers(Flow, 201))
def create_flow(body: FlowCreate, _key: WriteKey, db: Db) -> dict[str, Any]:
    definition = body.model_dump(include={"trigger", "entry", "reentry", "steps"})
    with db.write() as conn:
        return service.create_flow(conn, body.name, definition, body.enabled)


@router.get("/v1/flows", **answers(FlowPage))
def list_flows(
    _key: ReadKey, db: Db, cursor: Cursor = None, limit: Limit = DEFAULT_LIMIT
) -> dict[str, Any]:
    with db.read() as conn:
        rows = queries.list_flows(conn, decode_after(cursor), limit + 1)
        counts = queries.run_counts(conn, [row.id for row in rows])
    return page(
        rows, limit, lambda row: [row.id], lambda row: service.flow_to_api(row, counts[row.id])
    )


@router.get("/v1/flows/{flow_id}", **answers(Flow))
def read_flow(flow_id: str, _key: ReadKey, db: Db) -> dict[str, Any]:
    with db.read() as conn:
        return service.get_flow(conn, flow_id)


@router.patch("/v1/flows/{flow_id}", **answers(Flow))
def update_flow(flow_id: str, body: FlowUpdate, _key: WriteKey, db: Db) -> dict[str, Any]:
    with db.write() as conn:
        return service.update_flow(conn, flow_id, _definition_changes(body))


@router.post("/v1/flows/{flow_id}/enable", **answers(Flow))
def enable_flow(flow_id: str, _key: WriteKey, db: Db) -> dict[str, Any]:
    with db.write() as conn:
        return service.update_flow(conn, flow_id, {"enabled": True})


@router.post("/v1/flows/{flow_id}/disable", **answers(Flow))
def disable_flow(flow_id: str, _key: WriteKey, db: Db) -> dict[str, Any]:
    with db.write() as conn:
        return service.update_flow(conn, flow_id, {"enabled": False})


@router.delete("/v1/flows/{flow_id}", status_code=204)
def delete_flow(flow_id: str, _key: WriteKey, db: Db) -> Response:
    with db.write() as conn:
        service.delete_flow(conn, flow_id)
    return Response(status_code=204)


def _runs_page(rows: list[Any], limit: int) -> dict[str, Any]:
    return page(rows, limit, lambda row: [row.started_at.isoformat(), row.id], service.run_to_api)


def _after(cursor: str | None) -> tuple[datetime, str] | None:
    key = decode_cursor(cursor, 2)
    if key is None:
        return None
    try:
        return datetime.fromisoformat(str(key[0])), str(key[1])
    except ValueError:
        from audience.errors import validation_error

        raise validation_error("Invalid cursor", "cursor") from None


@router.get("/v1/flows/{flow_id}/runs", **answers(RunPage))
def flow_runs(
    flow_id: str, _key: ReadKey, db: Db, cursor: Cursor = None, limit: Limit = DEFAULT_LIMIT
) -> dict[str, Any]:
    with db.read() as conn:
        if queries.find_flow(conn, flow_id) is None:
            raise service.flow_not_found(flow_id)
        rows = queries.runs_page(conn, flow_id=flow_id, after=_after(cursor), limit=limit + 1)
    return _runs_page(rows, limit)


@router.get("/v1/persons/{person_id}/flow-runs", **answers(RunPage))
def person_flow_runs(
    person_id: str, _key: ReadKey, db: Db, cursor: Cursor = None, limit: Limit = DEFAULT_LIMIT
) -> dict[str, Any]:
    with db.read() as conn:
        person_id = live_person_id(conn, person_id)
        rows = queries.runs_page(
            conn, person_ids=profile_ids(conn, person_id), after=_after(cursor), limit=limit + 1
        )
    return _runs_page(rows, limit)
