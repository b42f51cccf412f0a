"""Checks of one incoming event against its definition (R8), without touching the database.

Each check raises ``InvalidEvent`` carrying the API error code and the field it is about, so
a batch can either fail as a whole (400 naming the index) or, with ``?validate=false``, drop
the event and list the reason.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from audience.attributes.values import InvalidValue, check_scalar, parse_datetime
from audience.clock import to_naive_utc
from audience.error_codes import ApiError, error_class
from audience.events.names import APP_LAUNCH, PUSH_EVENTS, STANDARD_EVENTS

MAX_FUTURE = timedelta(minutes=5)
MAX_PAST = timedelta(days=30)
MAX_EVENT_ID_LENGTH = 36
EVENT_FIELDS = frozenset({"definitionId", "date", "eventId", "properties"})


@dataclass(frozen=True)
class Definition:
    """What ingestion needs of an event definition."""

    id: str
    active: bool
    properties: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class CheckedEvent:
    definition_id: str
    occurred_at: datetime
    event_id: str | None
    # The client's properties, normalised; empty for AppLaunch (the server sets R6 ones).
    properties: dict[str, Any]


class InvalidEvent(Exception):
    """One event that cannot be stored; ``field`` is relative to the event (``properties.x``)."""

    def __init__(self, code: str, field: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.field = field
        self.reason = reason

    def field_in(self, prefix: str) -> str | None:
        """The field named from the request's root, e.g. ``events.3.properties.amount``."""
        return (prefix + self.field).rstrip(".") or None

    def to_api_error(self, prefix: str) -> ApiError:
        field = self.field_in(prefix)
        message = f"{field}: {self.reason}" if field else self.reason
        return error_class(self.code)(message, field)


def _shape_error(field: str, reason: str) -> InvalidEvent:
    return InvalidEvent("VALIDATION_ERROR", field, reason)


def _definition_error(field: str, reason: str) -> InvalidEvent:
    return InvalidEvent("INVALID_EVENT", field, reason)


def check_event(
    raw: Any,
    definitions: Mapping[str, Definition],
    now: datetime,
    allow_app_launch: bool,
    max_past: timedelta | None = MAX_PAST,
) -> CheckedEvent:
    """The event as it will be stored, or ``InvalidEvent`` saying what is wrong with it.
    ``max_past=None`` lifts the 30-day limit (historical imports, docs/decisions.md)."""
    if not isinstance(raw, dict):
        raise _shape_error("", "an event must be a JSON object")
    unknown = raw.keys() - EVENT_FIELDS
    if unknown:
        key = min(unknown)
        raise _shape_error(key, f"unknown field '{key}'")
    definition_id = raw.get("definitionId")
    if not isinstance(definition_id, str) or not definition_id:
        raise _shape_error("definitionId", "definitionId is required and must be a string")
    occurred_at = _check_date(raw.get("date"), now, max_past)
    event_id = _check_event_id(raw.get("eventId"))
    properties = raw.get("properties")
    if properties is None:
        properties = {}
    elif not isinstance(properties, dict):
        raise _shape_error("properties", "properties must be a JSON object")
    if definition_id == APP_LAUNCH and allow_app_launch:
        if properties:
            raise _definition_error(
                "properties", "AppLaunch takes no properties: the server records its own (R6)"
            )
        return CheckedEvent(definition_id, occurred_at, event_id, {})
    if definition_id in PUSH_EVENTS and allow_app_launch:
        return CheckedEvent(
            definition_id, occurred_at, event_id, _check_push_properties(properties)
        )
    definition = definitions.get(definition_id)
    if definition is None:
        if definition_id in STANDARD_EVENTS:
            reason = f"'{definition_id}' is a standard event recorded by the server"
        else:
            reason = f"no event definition '{definition_id}'"
        raise _definition_error("definitionId", reason)
    if not definition.active:
        raise _definition_error("definitionId", f"event definition '{definition_id}' is inactive")
    return CheckedEvent(
        definition_id, occurred_at, event_id, _check_properties(properties, definition)
    )


def _check_push_properties(properties: dict[str, Any]) -> dict[str, Any]:
    """PushDelivered / PushOpened carry the message's id, so sends can be measured."""
    unknown = properties.keys() - {"messageId"}
    if unknown:
        name = min(unknown)
        raise _definition_error(f"properties.{name}", f"unknown property '{name}'")
    message_id = properties.get("messageId")
    if not isinstance(message_id, str) or not 1 <= len(message_id) <= 64:
        raise _definition_error(
            "properties.messageId", "messageId is required: the id of the push message"
        )
    return {"messageId": message_id}


def _check_date(value: Any, now: datetime, max_past: timedelta | None) -> datetime:
    if value is None:
        return now
    try:
        occurred_at = to_naive_utc(parse_datetime(value))
    except InvalidValue as exc:
        raise _shape_error("date", str(exc)) from None
    if occurred_at > now + MAX_FUTURE:
        raise _shape_error("date", "more than 5 minutes in the future")
    if max_past is not None and occurred_at < now - max_past:
        raise _shape_error("date", "more than 30 days in the past")
    return occurred_at


def _check_event_id(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_EVENT_ID_LENGTH:
        raise _shape_error("eventId", f"eventId must be a string of 1-{MAX_EVENT_ID_LENGTH} chars")
    return value


def _check_properties(properties: dict[str, Any], definition: Definition) -> dict[str, Any]:
    types = definition.properties
    checked: dict[str, Any] = {}
    for name, value in properties.items():
        type_name = types.get(name)
        if type_name is None:
            raise _definition_error(
                f"properties.{name}", f"'{definition.id}' defines no property '{name}'"
            )
        try:
            checked[name] = check_scalar(type_name, value)
        except InvalidValue as exc:
            raise _definition_error(f"properties.{name}", f"{name}: {exc}") from None
    return checked
