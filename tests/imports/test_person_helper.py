"""The persons import's helper process (docs/decisions.md, Imports): rows checked there, a batch
ahead of the writer, end exactly as rows checked by the writer — applied in file order across
batches, with the same errors and audit — and a definition created meanwhile, a helper that
dies, or a batch cut off mid-way change nothing of that."""

import multiprocessing
from typing import Any

import pytest

from audience.config import Settings
from audience.imports import helper, queries, service
from audience.persons import guardrails
from audience.worker import drain
from tests.helpers import Api
from tests.imports.bulk import (
    finish_with_the_helper_killed,
    import_errors,
    job_of,
    lookup,
    run_import,
    start_import,
)
from tests.imports.test_person_batches import TEMPLATE, _outcome

needs_helper = pytest.mark.skipif(not helper.available(), reason="the helper needs 2+ CPUs")


@pytest.mark.parametrize(
    ("size", "use_helper"),
    [
        pytest.param(2, True, marks=needs_helper),
        pytest.param(3, True, marks=needs_helper),
        (2, False),
    ],
)
def test_rows_checked_a_batch_ahead_end_as_one_batch_checked_by_the_writer(
    api: Api, settings: Settings, size: int, use_helper: bool
) -> None:
    api.define_attribute("plan", "string")
    api.define_attribute("score", "number")
    whole = settings.model_copy(update={"import_helper_process": False})
    small = settings.model_copy(
        update={"import_batch_size": size, "import_helper_process": use_helper}
    )
    outcomes = []
    for prefix, digit, run in (("one-", "1", whole), ("ahead-", "2", small)):
        api.create_person(externalUserId=f"{prefix}known", emails=[f"{prefix}known@example.com"])
        import_id = start_import(api, "persons", TEMPLATE.format(p=prefix, d=digit))
        assert service.run_step(api.db, run, import_id, budget_seconds=0) is False
        if run is small:  # the next batch was read ahead, and handed to the helper if any
            kept = service._readers[import_id][1]
            assert (kept.helper is not None) is use_helper
            kept.wait_for_helper(60)  # started: it checks the batches from here on
        drain(api.db, run)
        if run is small:
            assert (kept.helped > 0) is use_helper
        outcomes.append(_outcome(api, job_of(api, import_id), prefix, digit))
    assert outcomes[0] == outcomes[1]
    assert outcomes[1]["counts"] == (10, 2, 2, 5)
    assert helper._pool is None  # let go once the import is done: no idle process kept
    for process in multiprocessing.active_children():
        process.join(timeout=30)
    assert not multiprocessing.active_children()
    # the same file again: the same outcome either way
    again = [
        _outcome(api, run_import(api, run, "persons", TEMPLATE.format(p=p, d=d)), p, d)
        for p, d, run in (("one-", "1", whole), ("ahead-", "2", small))
    ]
    assert [(o["counts"], o["errors"]) for o in again[:1]] == [
        (o["counts"], o["errors"]) for o in again[1:]
    ]
    assert again[1]["counts"] == (10, 0, 2, 5)  # rows 1 and 2 set the name back and forth


@needs_helper
def test_a_definition_created_while_the_helper_checks_is_seen_by_the_writer(
    api: Api, settings: Settings
) -> None:
    small = settings.model_copy(update={"import_batch_size": 2})
    body = "externalUserId,custom.score\nd1,\nd2,\nd3,12\nd4,7.5\n"
    import_id = start_import(api, "persons", body)
    assert service.run_step(api.db, small, import_id, budget_seconds=0) is False
    # the helper checks rows 3-4 while "score" is unknown (their cells stay text)
    kept = service._readers[import_id][1]
    kept.wait_for_helper(60)
    api.define_attribute("score", "number")
    drain(api.db, small)
    assert kept.helped == 1
    job = job_of(api, import_id)
    assert (job["status"], job["created"], job["failed"]) == ("done", 4, 0)
    scores = [lookup(api, externalUserId=f"d{i}") for i in (3, 4)]
    assert [p["customAttributes"] for p in scores if p] == [{"score": 12}, {"score": 7.5}]


@needs_helper
def test_the_helper_refuses_the_identity_values_the_server_blocks(
    api: Api, settings: Settings
) -> None:
    """The blocked values come from the server's settings, which the spawned helper never
    read: it is handed them with each batch."""
    blocking = settings.model_copy(
        update={"import_batch_size": 2, "blocked_identities": "nobody-home,n/a"}
    )
    guardrails.configure(blocking)
    try:
        body = "externalUserId\n" + "".join(
            f"{ext}\n" for ext in ("b1", "b2", "b3", "nobody-home", "b5", "N/A")
        )
        import_id = start_import(api, "persons", body)
        assert service.run_step(api.db, blocking, import_id, budget_seconds=0) is False
        kept = service._readers[import_id][1]
        kept.wait_for_helper(60)  # rows 3-4, then 5-6, are checked there
        drain(api.db, blocking)
        assert kept.helped == 2
        job = job_of(api, import_id)
        errors = [(e["row"], e["code"]) for e in import_errors(api, import_id)]
    finally:
        guardrails.configure(settings)
    assert (job["created"], job["failed"]) == (4, 2)
    assert errors == [(4, "IDENTITY_BLOCKED"), (6, "IDENTITY_BLOCKED")]


@needs_helper
def test_a_helper_that_dies_leaves_its_batches_to_the_writer(api: Api, settings: Settings) -> None:
    small = settings.model_copy(update={"import_batch_size": 2})
    body = "externalUserId,firstName\n" + "".join(f"k{i},K{i}\n" for i in range(6))
    import_id = start_import(api, "persons", body)
    job = finish_with_the_helper_killed(api, small, import_id)
    assert (job["status"], job["rows"], job["created"], job["failed"]) == ("done", 6, 6, 0)
    assert all(lookup(api, externalUserId=f"k{i}") for i in range(6))


@needs_helper
def test_a_batch_cut_off_while_the_next_is_checked_leaves_nothing(
    api: Api, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    small = settings.model_copy(update={"import_batch_size": 2})
    body = "externalUserId,emails,tags\n" + "".join(
        f"c{i},c{i}@example.com,t{i}\n" for i in range(1, 7)
    )
    import_id = start_import(api, "persons", body)
    assert service.run_step(api.db, small, import_id, budget_seconds=0) is False
    kept = service._readers[import_id][1]
    kept.wait_for_helper(60)  # the next batch (3-4) is checked there while 1-2... are stored

    def worker_dies(*_args: Any) -> None:
        raise SystemExit("worker killed after the batch's persons and audit, before its tags")

    monkeypatch.setattr(queries, "insert_tags", worker_dies)
    with pytest.raises(SystemExit):
        service.run_step(api.db, small, import_id, budget_seconds=0)
    job = job_of(api, import_id)
    assert (job["status"], job["rows"], job["created"]) == ("running", 2, 2)
    assert lookup(api, externalUserId="c3") is None and lookup(api, email="c3@example.com") is None

    monkeypatch.undo()
    drain(api.db, small)
    job = job_of(api, import_id)
    assert (job["status"], job["rows"], job["created"], job["failed"]) == ("done", 6, 6, 0)
    assert import_errors(api, import_id) == []
    for i in range(1, 7):
        person = lookup(api, externalUserId=f"c{i}")
        assert person is not None
        assert (person["emails"], person["tags"]) == ([f"c{i}@example.com"], [f"t{i}"])
        changes = api.client.get(f"/v1/persons/{person['id']}/changes", headers=api.admin)
        assert len(changes.json()["items"]) == 3  # applied once: one audit row a field
