"""R8 checks and event history on factory-built rows, without a server."""

from datetime import timedelta

import pytest

from audience.clock import utcnow
from audience.db import Database
from audience.errors import ApiError, InvalidEvent
from audience.events import service
from audience.events.validation import Definition, check_event
from audience.events.validation import InvalidEvent as EventProblem
from tests import factories

PURCHASE = {"purchase": Definition("purchase", True, {"amount": "number"})}


def test_check_event_is_pure_logic() -> None:
    now = utcnow()
    checked = check_event(
        {"definitionId": "purchase", "properties": {"amount": 3}}, PURCHASE, now, False
    )
    assert (checked.definition_id, checked.properties) == ("purchase", {"amount": 3})
    with pytest.raises(EventProblem) as wrong_type:
        check_event(
            {"definitionId": "purchase", "properties": {"amount": "3"}}, PURCHASE, now, False
        )
    assert (wrong_type.value.code, wrong_type.value.field) == ("INVALID_EVENT", "properties.amount")
    too_old = (now - timedelta(days=31)).isoformat() + "Z"
    with pytest.raises(EventProblem) as old:
        check_event({"definitionId": "purchase", "date": too_old}, PURCHASE, now, False)
    assert old.value.field == "date"


def test_server_events_are_idempotent_by_event_id_and_checked_by_class(db: Database) -> None:
    with db.write() as conn:
        ann = factories.person(conn, "ann")
        factories.event_definition(conn, "purchase", amount="number")
        first = factories.event(conn, ann.id, "purchase", event_id="e1", amount=5)
        again = factories.event(conn, ann.id, "purchase", event_id="e1", amount=5)
        assert again.id == first.id
        with pytest.raises(InvalidEvent) as unknown:  # caught by class, not by code string
            factories.event(conn, ann.id, "refund")
        assert isinstance(unknown.value, ApiError) and unknown.value.status == 400
        _owner, rows = service.person_history(
            conn,
            ann.id,
            definition_id=None,
            since=None,
            until=None,
            push_registration_id=None,
            after=None,
            limit=10,
        )
    assert [row.definition_id for row in rows] == ["purchase"]
