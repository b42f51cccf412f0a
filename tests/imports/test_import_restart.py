"""An import survives a worker dying mid-batch: the batch's transaction never commits, the
job resumes at its stored position, and every row ends applied once."""

from typing import Any

import pytest

from audience.config import Settings
from audience.imports import queries, service
from audience.worker import drain
from tests.helpers import Api
from tests.imports.bulk import lookup, start_import


def test_a_batch_cut_off_mid_way_leaves_nothing_and_the_job_resumes(
    api: Api, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    small = settings.model_copy(update={"import_batch_size": 2})
    body = "externalUserId,firstName\n" + "".join(f"p{i},N{i}\n" for i in range(1, 6))
    import_id = start_import(api, "persons", body)

    assert service.run_step(api.db, small, import_id, budget_seconds=0) is False

    def worker_dies(*_args: Any) -> None:
        raise SystemExit("worker killed after applying rows, before committing")

    monkeypatch.setattr(queries, "add_progress", worker_dies)
    with pytest.raises(SystemExit):
        service.run_step(api.db, small, import_id, budget_seconds=0)
    job = api.client.get(f"/v1/imports/{import_id}", headers=api.admin).json()
    assert (job["status"], job["rows"], job["created"]) == ("running", 2, 2)
    assert lookup(api, externalUserId="p2") is not None
    assert lookup(api, externalUserId="p3") is None  # the cut batch left nothing behind

    monkeypatch.undo()
    drain(api.db, small)  # the continuation (and the upload's own item) resume the job
    job = api.client.get(f"/v1/imports/{import_id}", headers=api.admin).json()
    assert (job["status"], job["rows"], job["created"], job["failed"]) == ("done", 5, 5, 0)
    assert all(lookup(api, externalUserId=f"p{i}") for i in range(1, 6))


def test_a_continuation_reads_on_where_the_step_before_stopped(
    api: Api, settings: Settings
) -> None:
    small = settings.model_copy(update={"import_batch_size": 2})
    body = "externalUserId,firstName\n" + "".join(f"c{i},N{i}\n" for i in range(1, 6))
    import_id = start_import(api, "persons", body)
    assert service.run_step(api.db, small, import_id, budget_seconds=0) is False
    assert service._readers[import_id][0] == 2  # kept at the job's position
    assert service.run_step(api.db, small, import_id, budget_seconds=0) is False
    assert service._readers[import_id][0] == 4
    assert service.run_step(api.db, small, import_id, budget_seconds=0) is False
    assert service.run_step(api.db, small, import_id, budget_seconds=0) is True
    assert import_id not in service._readers
    job = api.client.get(f"/v1/imports/{import_id}", headers=api.admin).json()
    assert (job["status"], job["rows"], job["created"], job["failed"]) == ("done", 5, 5, 0)
    assert all(lookup(api, externalUserId=f"c{i}") for i in range(1, 6))


def test_persons_batches_are_capped_below_the_batch_size_events_use(
    api: Api, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A person row holds far more memory in flight than an event: persons batches stop at
    ``PERSONS_BATCH_CAP`` rows whatever ``import_batch_size`` says (events keep it)."""
    monkeypatch.setattr(service, "PERSONS_BATCH_CAP", 3)
    large = settings.model_copy(update={"import_batch_size": 5})
    persons = "externalUserId\n" + "".join(f"cap{i}\n" for i in range(1, 8))
    import_id = start_import(api, "persons", persons)
    assert service.run_step(api.db, large, import_id, budget_seconds=0) is False
    job = api.client.get(f"/v1/imports/{import_id}", headers=api.admin).json()
    assert (job["rows"], job["created"]) == (3, 3)
    drain(api.db, large)  # finished: its reader (and helper) let go for the tests after

    events = "".join(
        f'{{"externalUserId": "cap1", "definitionId": "e", "eventId": "x{i}", '
        f'"occurredAt": "2026-11-0{i}T10:00:00Z"}}\n'
        for i in range(1, 8)
    )
    import_id = start_import(api, "events", events, "ndjson")
    assert service.run_step(api.db, large, import_id, budget_seconds=0) is False
    job = api.client.get(f"/v1/imports/{import_id}", headers=api.admin).json()
    assert job["rows"] == 5
    drain(api.db, large)
