"""Event rules: mobile batch ingestion (R7, R8), server-side events and a person's history."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Row

from audience import configuration
from audience.clock import isoformat, utcnow
from audience.db import Database
from audience.events import queries
from audience.events.definitions import definitions_by_id, load_for_ingestion
from audience.events.observers import notify
from audience.events.standard import APP_LAUNCH, PUSH_EVENTS, event_api_form, standard_properties
from audience.events.validation import CheckedEvent, Definition, InvalidEvent, check_event
from audience.installations import queries as installation_queries
from audience.installations.queries import InstallationKey
from audience.installations.service import authorised_installation
from audience.persons.queries import profile_ids
from audience.persons.service import live_person_id
from audience.segments.membership import refresh_person
from audience.webhooks.publish import publish_events, wanted

APP_LAUNCH_WINDOW = timedelta(seconds=30)


def event_to_api(row: Row, person_id: str | None = None) -> dict[str, Any]:
    """An event as the API shows it; ``person_id`` names the live owner when the event was
    recorded under an id since merged into it."""
    values = dict(row._mapping)
    return event_api_form(row.id, values | {"person_id": person_id or row.person_id})


def _definition_ids(raw_events: list[Any]) -> set[str]:
    return {
        raw["definitionId"]
        for raw in raw_events
        if isinstance(raw, dict) and isinstance(raw.get("definitionId"), str)
    } - {APP_LAUNCH} - PUSH_EVENTS


@dataclass
class BatchResult:
    accepted: int = 0
    duplicates: int = 0
    dropped: int = 0
    invalid: list[dict[str, Any]] = field(default_factory=list)

    def to_api(self, list_invalid: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "dropped": self.dropped,
        }
        if list_invalid:
            body["invalid"] = self.invalid
        return body


def mobile_installation(
    conn: Connection, db: Database, authorization: str | None, push_registration_id: str
) -> InstallationKey:
    """The live installation a mobile events call acts as."""
    installation = installation_queries.find_key(conn, push_registration_id)
    return authorised_installation(db, authorization, push_registration_id, installation)


@dataclass
class CheckedBatch:
    """A batch checked against its definitions, before it is stored."""

    events: list[CheckedEvent]
    received_at: datetime
    result: BatchResult


def check_batch(
    definitions: dict[str, Definition],
    raw_events: list[Any],
    validate: bool,
    allow_app_launch: bool = True,
) -> CheckedBatch:
    """R8 for every event; 400 on the first invalid one, or with ``validate=False`` the
    invalid ones are listed and left out."""
    now = utcnow()
    batch = CheckedBatch([], now, BatchResult())
    for index, raw in enumerate(raw_events):
        try:
            batch.events.append(check_event(raw, definitions, now, allow_app_launch))
        except InvalidEvent as exc:
            prefix = f"events.{index}."
            if validate:
                raise exc.to_api_error(prefix) from None
            batch.result.invalid.append(
                {
                    "index": index,
                    "code": exc.code,
                    "field": exc.field_in(prefix),
                    "reason": exc.reason,
                }
            )
    return batch


def store_batch(
    conn: Connection, installation: InstallationKey, batch: CheckedBatch, stored_ids: set[str]
) -> BatchResult:
    """Store a checked batch on the installation's current person.

    ``installation`` was read in this transaction, locked, and ``stored_ids`` after it:
    concurrent batches of one installation see each other's eventIds and AppLaunch times,
    and a relink or uninstall is never half-seen.
    """
    push_registration_id = installation.push_registration_id
    person_id = installation.person_id
    assert person_id is not None  # only tombstones lose their person (R10), and they got 410
    result = batch.result
    checked = _without_duplicates(batch.events, stored_ids, result)
    rows: list[dict[str, Any]] = []
    launch_properties: dict[str, Any] | None = None
    for event in checked:
        properties = event.properties
        if event.definition_id == APP_LAUNCH:
            if not _record_launch(conn, push_registration_id, event.occurred_at):
                result.dropped += 1
                continue
            if launch_properties is None:
                launch_properties = _launch_properties(conn, installation)
            properties = launch_properties
        rows.append(
            {
                "person_id": person_id,
                "push_registration_id": push_registration_id,
                "definition_id": event.definition_id,
                "occurred_at": event.occurred_at,
                "received_at": batch.received_at,
                "event_id": event.event_id,
                "properties": properties,
            }
        )
    if rows and wanted(conn, {row["definition_id"] for row in rows}):
        pks = queries.insert_events_returning_ids(conn, rows)
        publish_events(conn, zip(pks, (row["definition_id"] for row in rows), strict=True))
    else:
        queries.insert_events(conn, rows)
    notify(conn, rows)
    result.accepted = len(rows)
    if rows:
        # Only segments counting events of these definitions can change.
        refresh_person(conn, person_id, events={row["definition_id"] for row in rows})
    return result


def _client_event_ids(raw_events: list[Any]) -> set[str]:
    """The eventIds a batch might store (a superset: the events are not checked yet)."""
    return {
        raw["eventId"]
        for raw in raw_events
        if isinstance(raw, dict) and isinstance(raw.get("eventId"), str)
    }


def ingest_mobile_events(
    db: Database,
    authorization: str | None,
    push_registration_id: str,
    raw_events: list[Any],
    validate: bool,
) -> BatchResult:
    """Authenticate, check and store one batch of the mobile events call, in one transaction.

    On SQLite too: a read transaction for the checks before the write one let other
    workers' checks overlap this one's, but cost a second transaction and lookup per call;
    one transaction gave better tails (single events, p99 23.6 -> 22 ms).
    """
    with db.write(pipelined=True) as conn:
        configuration.preload(conn)
        reads = queries.read_for_batch(
            conn,
            push_registration_id,
            _definition_ids(raw_events),
            _client_event_ids(raw_events),
        )
        installation = authorised_installation(
            db, authorization, push_registration_id, reads.installation
        )
        batch = check_batch(definitions_by_id(reads.definitions), raw_events, validate)
        return store_batch(conn, installation, batch, reads.stored_event_ids)


def _without_duplicates(
    checked: list[CheckedEvent], stored_ids: set[str], result: BatchResult
) -> list[CheckedEvent]:
    """Drop events whose eventId this installation already stored, or sent earlier in the batch."""
    seen = set(stored_ids)
    fresh: list[CheckedEvent] = []
    for event in checked:
        if event.event_id is not None:
            if event.event_id in seen:
                result.duplicates += 1
                continue
            seen.add(event.event_id)
        fresh.append(event)
    return fresh


def _launch_properties(conn: Connection, installation: InstallationKey) -> dict[str, Any]:
    """The R6 properties of an AppLaunch: the whole installation row, read only when needed."""
    row = installation_queries.find(conn, installation.push_registration_id)
    assert row is not None  # locked (PostgreSQL) or written by no one else (SQLite)
    return standard_properties(row, installation.application_code)


def _record_launch(conn: Connection, push_registration_id: str, at: datetime) -> bool:
    """R7: record the launch unless the previous one (latest not after it) is ≤ 30 s earlier."""
    previous = queries.previous_launch(conn, push_registration_id, at)
    if previous is not None and at - previous <= APP_LAUNCH_WINDOW:
        return False
    queries.insert_launch(conn, push_registration_id, at)
    return True


def record_server_event(conn: Connection, person_id: str, raw: Any) -> tuple[Row, bool]:
    """A custom event recorded by the server API; answers the row and whether it is new.

    Without an installation the (installation, eventId) constraint cannot apply, so a retried
    ``eventId`` is found among the person's server-side events under a lock on the person.
    """
    person_id = live_person_id(conn, person_id)
    queries.lock_person(conn, person_id)
    now = utcnow()
    wanted = _definition_ids([raw])
    try:
        event = check_event(raw, load_for_ingestion(conn, wanted), now, allow_app_launch=False)
    except InvalidEvent as exc:
        raise exc.to_api_error("") from None
    if event.event_id is not None:
        existing = queries.find_server_event(conn, profile_ids(conn, person_id), event.event_id)
        if existing is not None:
            return existing, False
    new_id = queries.insert_event(
        conn,
        person_id=person_id,
        push_registration_id=None,
        definition_id=event.definition_id,
        occurred_at=event.occurred_at,
        received_at=now,
        event_id=event.event_id,
        properties=event.properties,
    )
    refresh_person(conn, person_id, now, events={event.definition_id})
    row = queries.find_event(conn, new_id)
    assert row is not None
    publish_events(conn, [(new_id, row.definition_id)])
    notify(conn, [row._asdict()])
    return row, True


def person_history(
    conn: Connection,
    person_id: str,
    *,
    definition_id: str | None,
    since: datetime | None,
    until: datetime | None,
    push_registration_id: str | None,
    after: tuple[datetime, int] | None,
    limit: int,
) -> tuple[str, list[Row]]:
    """The live person's id, and its events and those of every person merged into it, newest
    first."""
    person_id = live_person_id(conn, person_id)
    return person_id, queries.history(
        conn,
        profile_ids(conn, person_id),
        definition_id=definition_id,
        since=since,
        until=until,
        push_registration_id=push_registration_id,
        after=after,
        limit=limit,
    )


def history_cursor_key(row: Row) -> list[Any]:
    return [isoformat(row.occurred_at), int(row.id)]
