"""The imports' helper process stays lean (docs/performance.md, "Import helper memory"): what
it runs — the row checks, and every module they import — loads no web framework, database
layer or template engine, so the helper holds tens of MB instead of a second copy of the app.

A fresh interpreter gets exactly what the helper gets, a pickled call, and imports what that
pickle names, as the helper does; a later import that drags the app back in fails here."""

import json
import pickle
import subprocess
import sys
from datetime import datetime
from typing import Any

import pytest

from audience.events.validation import Definition
from audience.imports import event_checks, helper, person_checks
from audience.imports.event_checks import CheckedBatch
from audience.imports.person_checks import CheckedPersons

HEAVY = ("fastapi", "starlette", "sqlalchemy", "psycopg", "jinja2")

# What the helper's process does with a task: unpickle it (importing the modules it names),
# run it, pickle the answer; then report its modules and the answer.
CHILD = """
import json, pickle, sys
calls = pickle.load(sys.stdin.buffer)
answers = [pickle.dumps(call(*args)) for call, args in calls]
json.dump({"modules": sorted(sys.modules), "answers": [a.hex() for a in answers]}, sys.stdout)
"""

PERSON_ROWS = [
    (1, {"externalUserId": "ann", "emails": "Ann@Example.com", "custom.plan": "gold"}, None),
    (2, {"externalUserId": "", "phones": "not a phone"}, None),
    (3, None, "the row does not have as many cells as the header"),
]
EVENT_ROWS = [
    (1, '{"externalUserId": "ann", "definitionId": "buy", "properties": {"n": 2}}', None),
    (2, '{"externalUserId": "ann", "definitionId": "buy", "properties": {"n": "x"}}', None),
    (3, "not json", None),
]


def _run_in_fresh_interpreter(calls: list[tuple[Any, tuple[Any, ...]]]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", CHILD],
        input=pickle.dumps(calls),
        capture_output=True,
        check=True,
        timeout=60,
    )
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def test_the_helpers_checks_load_no_framework_nor_database_layer() -> None:
    now = datetime(2024, 1, 1)
    snapshot = {"buy": Definition("buy", True, {"n": "number"})}
    check_persons, person_args = person_checks.helper_call(PERSON_ROWS, True, {"plan": "string"})
    calls = [
        (helper._with_gc_paused, (check_persons, *person_args)),
        (
            helper._with_gc_paused,
            (event_checks.check_with_snapshot, EVENT_ROWS, False, snapshot, now, True),
        ),
    ]
    report = _run_in_fresh_interpreter(calls)

    loaded = {name.split(".")[0] for name in report["modules"]}
    assert "audience" in loaded and "pydantic" in loaded  # it did run the checks
    assert loaded.isdisjoint(HEAVY), sorted(loaded & set(HEAVY))
    # ... and they answered as in the writer.
    persons, events = (pickle.loads(bytes.fromhex(answer)) for answer in report["answers"])
    assert isinstance(persons, CheckedPersons) and isinstance(events, CheckedBatch)
    assert persons == person_checks.check_rows(PERSON_ROWS, True, {"plan": "string"})
    assert [c.identity.emails for c in persons.candidates] == [["ann@example.com"]]
    assert [e[:3] for e in persons.errors] == [
        (2, 400, "PHONE_INVALID"),
        (3, 400, "VALIDATION_ERROR"),
    ]
    assert events == event_checks.check_with_snapshot(EVENT_ROWS, False, snapshot, now, True)
    assert [e[0] for e in events.events] == [1]
    assert [e[:3] for e in events.errors] == [
        (2, 400, "INVALID_EVENT"),
        (3, 400, "VALIDATION_ERROR"),
    ]


@pytest.mark.skipif(not helper.available(), reason="the helper needs 2+ CPUs")
def test_the_real_helper_process_stays_lean() -> None:
    """The spawned helper itself, after a check: also what its start-up imports (spawn's
    preparation of the parent's ``__main__``, the pool's worker) counts."""
    hold = helper.Helper()
    try:
        check, args = person_checks.helper_call(PERSON_ROWS, True, {"plan": "string"})
        future = hold.submit(check, *args)
        assert future is not None
        assert len(future.result(timeout=60).candidates) == 1
        # ``eval`` (a builtin, so it pickles by name) answers the helper's own modules.
        modules = hold.submit(eval, "sorted(__import__('sys').modules)")
        assert modules is not None
        loaded = {name.split(".")[0] for name in modules.result(timeout=60)}
    finally:
        hold.close(wait=True)
    assert "audience" in loaded
    assert loaded.isdisjoint(HEAVY), sorted(loaded & set(HEAVY))
