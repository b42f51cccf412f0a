"""Answers of the event endpoints (see ``audience.models.answers``)."""

from typing import Any, Literal

from audience.models import ResponseModel, Timestamp


class EventDefinition(ResponseModel):
    id: str
    description: str | None
    properties: dict[str, Literal["string", "number", "boolean", "date", "datetime"]]
    active: bool
    created_at: Timestamp
    updated_at: Timestamp


class Event(ResponseModel):
    """A stored event (R8); ``personId`` is its live owner (merges followed)."""

    id: str
    person_id: str
    push_registration_id: str | None
    definition_id: str
    occurred_at: Timestamp
    received_at: Timestamp
    event_id: str | None
    properties: dict[str, Any]


class InvalidEvent(ResponseModel):
    """An event dropped by ``?validate=false``: its index in the batch and why."""

    index: int
    code: str
    field: str | None
    reason: str


class IngestResult(ResponseModel):
    """The mobile events call; ``invalid`` only with ``?validate=false``."""

    accepted: int
    duplicates: int
    dropped: int
    invalid: list[InvalidEvent] | None = None
