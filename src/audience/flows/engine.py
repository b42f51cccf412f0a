"""Runs as durable state machines, advanced by the worker.

A run's position is a path into its version's steps (``"2"``, ``"1.then.0"``). The worker's
``flow.step`` item names the run and the position it was written for; the run advances from
there in one transaction per step — the step's effect and the new position commit together —
until a ``wait`` (a new ``flow.step`` item due when the wait ends: a timer in the database, no
sleeping task), an ``exit``, a failure, or the end. An item whose position no longer matches
the run (a duplicate delivery, a run that exited meanwhile) is ignored, so every step is
applied once even though outbox items are delivered at least once.
"""

from collections.abc import Mapping
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import anyio
from sqlalchemy import Connection

from audience import outbox
from audience.clock import isoformat, utcnow
from audience.db import Database
from audience.errors import ApiError
from audience.flows import queries
from audience.flows.definition import step_type
from audience.flows.triggers import STEP_TOPIC, acting_for, person_matches
from audience.observability import FLOW_RUNS, FLOW_STEPS
from audience.outbox import OutboxItem
from audience.persons.audit import Audit
from audience.persons.service import get_person, person_to_api, update_person
from audience.push.service import send_to_person
from audience.segments.queries import load_definitions
from audience.segments.rules import parse_rule
from audience.webhooks.publish import publish_to
from audience.webhooks.service import get_endpoint

END = "end"  # the position after the last step (a run waiting at its end completes on waking)


class StepFailed(Exception):
    """A step could not be applied; the run fails with this reason in its log."""


def path_of(position: list[Any]) -> str:
    return ".".join(str(part) for part in position) if position else END


def position_of(path: str) -> list[Any]:
    if path == END:
        return []
    return [int(part) if part.isdigit() else part for part in path.split(".")]


def step_at(steps: list[Any], position: list[Any]) -> dict[str, Any]:
    step = steps[position[0]]
    for branch, index in zip(position[1::2], position[2::2], strict=True):
        step = step[branch][index]
    return dict(step)


def after(steps: list[Any], position: list[Any]) -> list[Any]:
    """The position after the step at ``position``: the next in its list, or after the ``if``
    that holds the list, or [] at the end of the flow."""
    while position:
        *parent, index = position
        siblings = steps if not parent else step_at(steps, parent[:-1])[parent[-1]]
        if index + 1 < len(siblings):
            return [*parent, index + 1]
        position = parent[:-1]
    return []


def enter(steps: list[Any], position: list[Any], branch: str) -> list[Any]:
    """The first step of an ``if``'s branch, or the step after the ``if`` if it is empty."""
    if step_at(steps, position).get(branch):
        return [*position, branch, 0]
    return after(steps, position)


async def handle_steps(ctx: Any, items: list[OutboxItem]) -> Mapping[int, datetime]:
    """The worker's handler of ``flow.step`` items."""
    await anyio.to_thread.run_sync(advance_all, ctx.db, [item.payload for item in items])
    return {}


def advance_all(db: Database, payloads: list[dict[str, Any]]) -> None:
    for payload in payloads:
        run_id: str = payload["runId"]
        step: str | None = payload["step"]
        while step is not None:
            step = db.write_retrying(partial(advance_one_step, run_id=run_id, expected_step=step))


def advance_one_step(conn: Connection, run_id: str, expected_step: str) -> str | None:
    """Apply the run's step at ``expected_step``, in this transaction; answers the next step
    when the run goes on at once (it runs in its own transaction), else None."""
    run = queries.find_run(conn, run_id, for_update=True)
    if run is None or run.status not in queries.ACTIVE_STATUSES:
        return None
    if run.step != expected_step:
        return None  # a stale or repeated item: the run has moved on
    now = utcnow()
    log = list(run.log)
    definition = queries.version_definition(conn, run.flow_id, run.version)
    if definition is None:
        _finish(conn, run, log, now, "exited", "the flow's definition is gone")
        return None
    steps = definition["steps"]
    position = position_of(run.step)
    if not position:
        _finish(conn, run, log, now, "completed", None)
        return None
    step = step_at(steps, position)
    kind = step_type(step)
    entry: dict[str, Any] = {"at": isoformat(now), "step": run.step, "type": kind}
    try:
        with conn.begin_nested(), acting_for((*run.trigger.get("chain", []), run.flow_id)):
            outcome = _apply(conn, run, kind, step, steps, position, now, entry)
    except (StepFailed, ApiError) as exc:
        entry["detail"] = getattr(exc, "message", None) or str(exc)
        log.append(entry)
        _finish(conn, run, log, now, "failed", entry["detail"])
        return None
    log.append(entry)
    FLOW_STEPS.labels(kind or "unknown").inc()
    if outcome == "exit":
        _finish(conn, run, log, now, "exited", "exit step")
        return None
    next_step, due = outcome
    if due is not None:
        queries.save_run(conn, run.id, status="waiting", step=next_step, log=log, updated_at=now)
        outbox.enqueue(conn, STEP_TOPIC, {"runId": run.id, "step": next_step}, at=due)
        return None
    if next_step == END:
        _finish(conn, run, log, now, "completed", None)
        return None
    queries.save_run(conn, run.id, status="active", step=next_step, log=log, updated_at=now)
    return str(next_step)


def _apply(
    conn: Connection,
    run: Any,
    kind: str | None,
    step: dict[str, Any],
    steps: list[Any],
    position: list[Any],
    now: datetime,
    entry: dict[str, Any],
) -> Any:
    """The step's effect; answers "exit" or (next position, due time of a wait or None)."""
    person_id = run.person_id
    if kind == "wait":
        due = now + timedelta(seconds=step["wait"]["seconds"])
        entry["detail"] = f"until {isoformat(due)}"
        return path_of(after(steps, position)), due
    if kind == "if":
        rule = parse_rule(step["if"], load_definitions(conn), "if")
        matched = person_matches(conn, rule, person_id, now)
        entry["detail"] = "then" if matched else "else"
        return path_of(enter(steps, position, "then" if matched else "else")), None
    if kind == "exit":
        return "exit"
    audit = Audit(f"flow:{run.flow_id}", now)
    person = get_person(conn, person_id, for_update=True)
    if kind == "setAttributes":
        fields = {_snake(name): value for name, value in step["setAttributes"].items()}
        update_person(conn, person, fields, audit)
    elif kind in ("addTags", "removeTags"):
        change = {"add" if kind == "addTags" else "remove": step[kind]}
        update_person(conn, person, {"tags": change}, audit)
    elif kind == "sendPush":
        content = {k: v for k, v in step["sendPush"].items() if k != "applicationCode"}
        message_id = send_to_person(conn, step["sendPush"]["applicationCode"], person_id, content)
        entry["detail"] = f"message {message_id}"
    elif kind == "webhook":
        endpoint = get_endpoint(conn, step["webhook"]["webhookId"])  # 404: the run fails
        data = {
            "flowId": run.flow_id,
            "runId": run.id,
            "personId": person_id,
            "person": person_to_api(conn, person),
            "trigger": {k: v for k, v in run.trigger.items() if k != "chain"},
        }
        publish_to(conn, endpoint.id, "flow.webhook", data)
    else:
        raise StepFailed(f"step type {kind} cannot run in this server")
    return path_of(after(steps, position)), None


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)


def _finish(
    conn: Connection, run: Any, log: list[Any], now: datetime, status: str, reason: str | None
) -> None:
    log = [*log, {"at": isoformat(now), "step": None, "type": status, "detail": reason}]
    queries.save_run(conn, run.id, status=status, step=None, log=log, updated_at=now)
    FLOW_RUNS.labels(status).inc()
