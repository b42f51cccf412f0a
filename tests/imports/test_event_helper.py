"""The events import's helper process (docs/decisions.md, Imports): batches checked there while
the writer stores the one before end exactly as batches checked by the writer — rows, errors,
dedupe — and a definition changed meanwhile, or a helper that dies, changes nothing of that."""

import multiprocessing
from typing import Any

import pytest

from audience.config import Settings
from audience.imports import helper, service
from audience.worker import drain
from tests.helpers import Api
from tests.imports.bulk import (
    define_event,
    finish_with_the_helper_killed,
    import_errors,
    job_of,
    run_import,
    start_import,
)

needs_helper = pytest.mark.skipif(not helper.available(), reason="the helper needs 2+ CPUs")


@pytest.fixture
def setup(api: Api, shop: dict[str, Any]) -> dict[str, Any]:
    define_event(api, "purchase", amount="number", sku="string")
    installation = api.register(shop)
    person = api.create_person(externalUserId="buyer")
    return {"installation": installation, "person": person}


def _body(reg: str) -> str:
    """NDJSON rows over several batches of 2: errors of every kind, duplicates within and
    across batches, events with and without eventId."""
    rows = [
        f'{{"pushRegistrationId": "{reg}", "definitionId": "purchase", "eventId": "d1", '
        '"occurredAt": "2022-02-02T02:02:02Z", "properties": {"amount": 1}}',
        '{"externalUserId": "buyer", "definitionId": "purchase", "eventId": "d1", '
        '"occurredAt": "2022-03-02T02:02:02Z", "properties.amount": 2}',
        '{"externalUserId": "buyer", "definitionId": "purchase", "eventId": "d1", '
        '"occurredAt": "2022-04-02T02:02:02Z"}',
        "not json",
        '{"externalUserId": "buyer", "definitionId": "purchase", '
        '"occurredAt": "2021-01-01T00:00:00+02:00", "properties": {"sku": "A"}}',
        '{"externalUserId": "buyer", "definitionId": "purchase", '
        '"occurredAt": "2020-12-31T22:00:00Z", "properties": {"sku": "A"}}',
        '{"externalUserId": "nobody", "definitionId": "purchase", "eventId": "d2"}',
        '{"externalUserId": "buyer", "definitionId": "nosuch", "eventId": "d3"}',
        '{"externalUserId": "buyer", "definitionId": "purchase", "eventId": "d4", '
        '"properties": {"amount": "lots"}}',
        "[1, 2]",
        '{"externalUserId": "buyer", "definitionId": "purchase", "eventId": "d5", '
        '"occurredAt": "2999-01-01T00:00:00Z"}',
        '{"externalUserId": "buyer", "definitionId": "purchase", "eventId": "d6", '
        '"occurredAt": "2023-05-05T05:05:05.123Z", "properties": {"amount": 1e3}}',
    ]
    return "\n".join(rows) + "\n"


def _start(api: Api, body: str) -> str:
    return start_import(api, "events", body, file_format="ndjson")


@pytest.mark.parametrize("use_helper", [pytest.param(True, marks=needs_helper), False])
def test_batches_checked_in_the_helper_end_as_checked_by_the_writer(
    api: Api, settings: Settings, setup: dict[str, Any], use_helper: bool
) -> None:
    body = _body(setup["installation"]["pushRegistrationId"])
    small = settings.model_copy(
        update={"import_batch_size": 2, "import_helper_process": use_helper}
    )
    import_id = _start(api, body)
    assert service.run_step(api.db, small, import_id, budget_seconds=0) is False
    kept = service._readers[import_id][1]
    # the second batch was read ahead, and handed to the helper if there is one
    assert (getattr(kept, "helper", None) is not None) is use_helper
    kept.wait_for_helper(60)  # started: it checks the batches from here on
    drain(api.db, small)
    assert (kept.helped > 0) is use_helper
    job = job_of(api, import_id)
    assert (job["status"], job["rows"], job["created"], job["failed"]) == ("done", 12, 4, 6)
    assert helper._pool is None  # let go once the import is done: no idle process kept
    for process in multiprocessing.active_children():
        process.join(timeout=30)
    assert not multiprocessing.active_children()
    errors = [(e["row"], e["code"], e["field"]) for e in import_errors(api, import_id)]
    assert errors == [
        (4, "VALIDATION_ERROR", None),
        (7, "PERSON_NOT_FOUND", "externalUserId"),
        (8, "INVALID_EVENT", "definitionId"),
        (9, "INVALID_EVENT", "properties.amount"),
        (10, "VALIDATION_ERROR", None),
        (11, "VALIDATION_ERROR", "occurredAt"),
    ]
    buyer = api.events_of(setup["person"]["id"], definitionId="purchase")
    assert sorted((e["occurredAt"], e["eventId"], e["properties"]) for e in buyer) == [
        ("2020-12-31T22:00:00.000Z", None, {"sku": "A"}),
        ("2022-03-02T02:02:02.000Z", "d1", {"amount": 2}),
        ("2023-05-05T05:05:05.123Z", "d6", {"amount": 1000.0}),
    ]
    [device] = api.events_of(setup["installation"]["personId"], definitionId="purchase")
    assert (device["eventId"], device["properties"]) == ("d1", {"amount": 1})
    # idempotent: the same file again stores nothing and lists the same errors
    again = run_import(api, small, "events", body, file_format="ndjson")
    assert (again["rows"], again["created"], again["failed"]) == (12, 0, 6)


@needs_helper
def test_a_definition_changed_while_the_helper_checks_is_seen_by_the_writer(
    api: Api, settings: Settings, setup: dict[str, Any]
) -> None:
    rows = [
        f'{{"externalUserId": "buyer", "definitionId": "purchase", "eventId": "c{i}", '
        '"occurredAt": "2022-02-02T02:02:02Z"}'
        for i in range(4)
    ]
    small = settings.model_copy(update={"import_batch_size": 2})
    import_id = _start(api, "\n".join(rows))
    assert service.run_step(api.db, small, import_id, budget_seconds=0) is False
    # the helper checks rows 3-4 with "purchase" active; it is deactivated meanwhile
    kept = service._readers[import_id][1]
    kept.wait_for_helper(60)
    changed = api.client.patch(
        "/v1/event-definitions/purchase", json={"active": False}, headers=api.admin
    )
    assert changed.status_code == 200, changed.text
    drain(api.db, small)
    assert kept.helped == 1
    job = job_of(api, import_id)
    assert (job["status"], job["rows"], job["created"], job["failed"]) == ("done", 4, 2, 2)
    errors = [(e["row"], e["code"], e["field"]) for e in import_errors(api, import_id)]
    assert errors == [(3, "INVALID_EVENT", "definitionId"), (4, "INVALID_EVENT", "definitionId")]


@needs_helper
def test_a_helper_that_dies_leaves_its_batches_to_the_writer(
    api: Api, settings: Settings, setup: dict[str, Any]
) -> None:
    rows = [
        f'{{"externalUserId": "buyer", "definitionId": "purchase", "eventId": "k{i}"}}'
        for i in range(6)
    ]
    small = settings.model_copy(update={"import_batch_size": 2})
    import_id = _start(api, "\n".join(rows))
    job = finish_with_the_helper_killed(api, small, import_id)
    assert (job["status"], job["rows"], job["created"], job["failed"]) == ("done", 6, 6, 0)
    assert len(api.events_of(setup["person"]["id"], definitionId="purchase")) == 6
