"""Helpers for bulk tests: upload a file, let the worker apply it, read the job back."""

import multiprocessing
from typing import Any

from audience.config import Settings
from audience.imports import service
from audience.worker import drain
from tests.helpers import Api


def start_import(
    api: Api, kind: str, body: str | bytes, file_format: str = "csv", dry_run: bool = False
) -> str:
    """Upload a file; answers the running job's id (the worker has not applied it yet)."""
    params = {"kind": kind, "format": file_format, "dryRun": str(dry_run).lower()}
    response = api.client.post("/v1/imports", params=params, content=body, headers=api.admin)
    assert response.status_code == 202, response.text
    started = response.json()
    assert started["status"] == "running"
    import_id: str = started["id"]
    return import_id


def run_import(
    api: Api,
    settings: Settings,
    kind: str,
    body: str | bytes,
    file_format: str = "csv",
    dry_run: bool = False,
) -> dict[str, Any]:
    import_id = start_import(api, kind, body, file_format, dry_run)
    drain(api.db, settings)
    job = api.client.get(f"/v1/imports/{import_id}", headers=api.admin)
    assert job.status_code == 200, job.text
    result: dict[str, Any] = job.json()
    return result


def import_errors(api: Api, import_id: str) -> list[dict[str, Any]]:
    response = api.client.get(f"/v1/imports/{import_id}/errors", headers=api.admin)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def lookup(api: Api, **query: str) -> dict[str, Any] | None:
    response = api.client.get("/v1/persons/lookup", params=query, headers=api.admin)
    if response.status_code == 404:
        return None
    assert response.status_code == 200, response.text
    person: dict[str, Any] = response.json()
    return person


def define_event(api: Api, definition_id: str, **properties: str) -> None:
    response = api.client.post(
        "/v1/event-definitions",
        json={"id": definition_id, "properties": properties},
        headers=api.admin,
    )
    assert response.status_code == 201, response.text


def job_of(api: Api, import_id: str) -> dict[str, Any]:
    job: dict[str, Any] = api.client.get(f"/v1/imports/{import_id}", headers=api.admin).json()
    return job


def finish_with_the_helper_killed(api: Api, settings: Settings, import_id: str) -> dict[str, Any]:
    """One step (the batch after it handed to the helper process), the helper killed, the
    rest drained; answers the job."""
    assert service.run_step(api.db, settings, import_id, budget_seconds=0) is False
    helpers = multiprocessing.active_children()
    assert helpers
    for process in helpers:
        process.kill()
        process.join(timeout=30)
    drain(api.db, settings)
    return job_of(api, import_id)
