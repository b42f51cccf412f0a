"""Event rows checked without the database: a batch of rows as read becomes the events to
store (all but their person) and the errors, by the API's own ``check_event`` (R8, without the
30-day limit).

Nothing here reads or writes the database, so the same function runs in the writer or in the
import's helper process (``imports.helper``) while the writer stores the batch before; nor
imports it any (nor the web framework): the helper loads only what the checks need
(tests/imports/test_helper_imports.py).
The definitions come from a loader: the writer's transaction, or the snapshot the helper was
given — the writer then loads the batch's definitions again in its transaction and checks the
batch again if any of them changed (``CheckedBatch.definitions``).
"""

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from audience.error_codes import ApiError
from audience.events.validation import Definition, InvalidEvent, check_event
from audience.imports.cells import nest
from audience.imports.rows import RawRow, RowError, json_text, parse, row_error

# Written by exports, read-only here.
IGNORED_COLUMNS = frozenset({"id", "personId", "receivedAt"})
_EVENT_FIELDS = {"definitionId": "definitionId", "eventId": "eventId", "occurredAt": "date"}
_KEYS = frozenset({"pushRegistrationId", "externalUserId"})
_NOT_PLAIN = IGNORED_COLUMNS | {"properties"}

# An event ready to store but for its person (tuples: they cross to the writer by pickle):
# (row number, pushRegistrationId, externalUserId, definitionId, occurredAt as a datetime,
#  occurredAt as the database stores it, eventId, properties as JSON text, dedupe content —
#  the properties as sorted JSON when there is no eventId, else None).
Event = tuple[int, str | None, str | None, str, datetime, Any, str | None, str, str | None]
Definitions = Mapping[str, Definition]
Loader = Callable[[set[str]], Definitions]


@dataclass
class CheckedBatch:
    events: list[Event] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    # The definitionIds the rows name, and the definitions the check saw of them.
    definition_ids: set[str] = field(default_factory=set)
    definitions: dict[str, Definition] = field(default_factory=dict)
    # First days of the months of the rows' dates (PostgreSQL's partitions).
    months: set[date] = field(default_factory=set)
    now: datetime | None = None


def _invalid_property(name: str, value: Any) -> ApiError:
    return ApiError(
        400,
        "INVALID_EVENT",
        f"properties.{name}: {value!r} is not of its type",
        f"properties.{name}",
    )


@dataclass(slots=True)
class _Row:
    number: int
    body: dict[str, Any]
    raw: Mapping[str, Any]
    dotted: bool = False  # has ``properties.<name>`` columns
    push_registration_id: str | None = None
    external_user_id: str | None = None


def _split(number: int, row: Mapping[str, Any], is_csv: bool) -> _Row:
    """The row split into its person key and the event body check_event takes (properties
    are gathered later, once the definitions are known: CSV cells are typed by them). An
    empty CSV cell or an NDJSON null is not given; the first unknown column fails the row."""
    result = _Row(number, {}, row)
    body = result.body
    for column, value in row.items():
        if value is None or column in _NOT_PLAIN:
            continue
        if column.startswith("properties."):
            result.dotted = True
            continue
        if is_csv and value == "":
            continue
        name = _EVENT_FIELDS.get(column)
        if name is not None:
            body[name] = value
        elif column in _KEYS:
            if not isinstance(value, str):
                raise ApiError(400, "VALIDATION_ERROR", f"{column} must be a string", column)
            if column == "pushRegistrationId":
                result.push_registration_id = value
            else:
                result.external_user_id = value
        else:
            raise ApiError(400, "VALIDATION_ERROR", f"Unknown field '{column}'", column)
    if result.push_registration_id is None and result.external_user_id is None:
        raise ApiError(
            400,
            "VALIDATION_ERROR",
            "A row needs pushRegistrationId or externalUserId",
            "pushRegistrationId",
        )
    return result


def _api_error(exc: InvalidEvent) -> ApiError:
    name = {"date": "occurredAt"}.get(exc.field, exc.field) or None
    return ApiError(400, exc.code, f"{name}: {exc.reason}" if name else exc.reason, name)


def _properties(
    row: _Row, definitions: Mapping[str, Definition], is_csv: bool
) -> dict[str, Any] | None:
    """The row's properties as one object (``cells.nest``); a row with only a nested object
    (an NDJSON export's) is taken as it is, without a look at each column."""
    if row.dotted:
        definition_id = row.body.get("definitionId")
        definition = definitions.get(definition_id) if isinstance(definition_id, str) else None
        types = definition.properties if definition else {}
        return nest(row.raw, "properties.", "properties", types, is_csv, _invalid_property)
    nested = row.raw.get("properties")
    if nested is not None and not isinstance(nested, dict):
        raise ApiError(400, "VALIDATION_ERROR", "properties must be an object", "properties")
    return nested or None


def _stored_time(sqlite: bool) -> Callable[[datetime], Any]:
    """occurredAt as the database takes it: SQLAlchemy's text on SQLite, else the datetime."""
    if not sqlite:
        return lambda value: value
    seen: dict[datetime, str] = {}

    def stored(value: datetime) -> str:
        text = seen.get(value)
        if text is None:
            text = seen[value] = value.isoformat(sep=" ", timespec="microseconds")
        return text

    return stored


def check_rows(
    rows: Sequence[RawRow], is_csv: bool, load: Loader, now: datetime, sqlite: bool
) -> CheckedBatch:
    """Parse, split and check each row; ``load`` answers the definitions of the named ids."""
    batch = CheckedBatch(now=now)
    split: list[_Row] = []
    for raw in rows:
        number, fields, reason = parse(raw)
        if fields is None:
            batch.errors.append((number, 400, "VALIDATION_ERROR", reason or "", None))
            continue
        try:
            split.append(_split(number, fields, is_csv))
        except ApiError as exc:
            batch.errors.append(row_error(number, exc))
    wanted = {r.body.get("definitionId") for r in split}
    batch.definition_ids = {d for d in wanted if isinstance(d, str)}
    definitions = batch.definitions = dict(load(batch.definition_ids))
    stored_time = _stored_time(sqlite)
    months: dict[tuple[int, int], date] = {}
    for row in split:
        try:
            properties = _properties(row, definitions, is_csv)
            if properties is not None:
                row.body["properties"] = properties
            checked = check_event(row.body, definitions, now, allow_app_launch=False, max_past=None)
        except InvalidEvent as exc:
            batch.errors.append(row_error(row.number, _api_error(exc)))
            continue
        except ApiError as exc:
            batch.errors.append(row_error(row.number, exc))
            continue
        occurred = checked.occurred_at
        months.setdefault((occurred.year, occurred.month), date(occurred.year, occurred.month, 1))
        content = (
            json.dumps(checked.properties, sort_keys=True) if checked.event_id is None else None
        )
        batch.events.append(
            (
                row.number,
                row.push_registration_id,
                row.external_user_id,
                checked.definition_id,
                occurred,
                stored_time(occurred),
                checked.event_id,
                json_text(checked.properties),
                content,
            )
        )
    batch.months = set(months.values())
    batch.errors.sort()
    return batch


def check_with_snapshot(
    rows: Sequence[RawRow],
    is_csv: bool,
    snapshot: Mapping[str, Definition],
    now: datetime,
    sqlite: bool,
) -> CheckedBatch:
    """``check_rows`` against definitions known beforehand (what the helper process runs)."""
    return check_rows(
        rows, is_csv, lambda ids: {i: snapshot[i] for i in ids if i in snapshot}, now, sqlite
    )
