"""Retention (SPEC §15): old events removed in the background on both backends; on
PostgreSQL whole monthly partitions dropped and new ones made ahead; segment windows longer
than the retention refused."""

from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from audience.app import create_app
from audience.config import Settings
from audience.db import Database
from audience.retention import partitions
from audience.retention.service import run_retention
from tests.helpers import Api
from tests.imports.bulk import define_event, run_import


def _iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def _history(api: Api, settings: Settings, person_id: str, dates: list[datetime]) -> None:
    define_event(api, "visit")
    body = "externalUserId,definitionId,eventId,occurredAt\n" + "".join(
        f"keeper,visit,v{i},{_iso(at)}\n" for i, at in enumerate(dates)
    )
    assert run_import(api, settings, "events", body)["created"] == len(dates)


def _visits(api: Api, person_id: str) -> list[str]:
    return sorted(e["eventId"] for e in api.events_of(person_id, definitionId="visit", limit=1000))


def test_events_past_the_retention_are_deleted_in_batches(
    api: Api, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    person = api.create_person(externalUserId="keeper")
    now = datetime.utcnow()
    old = [now - timedelta(days=400 + i) for i in range(7)]
    recent = [now - timedelta(days=3), now - timedelta(days=10)]
    _history(api, settings, person["id"], old + recent)
    monkeypatch.setattr("audience.retention.service.DELETE_BATCH", 3)

    kept_forever = run_retention(api.db, settings)
    assert kept_forever.deleted_rows == 0 and kept_forever.dropped_partitions == []
    assert len(_visits(api, person["id"])) == 9

    run = run_retention(api.db, settings.model_copy(update={"event_retention_days": 30}))
    assert _visits(api, person["id"]) == ["v7", "v8"]
    assert run.deleted_rows + len(run.dropped_partitions) > 0


def test_postgresql_drops_whole_partitions_and_creates_them_ahead(
    api: Api, settings: Settings, db: Database
) -> None:
    if db.is_sqlite:
        pytest.skip("SQLite keeps one events table")
    person = api.create_person(externalUserId="keeper")
    _history(api, settings, person["id"], [datetime(2019, 3, 4), datetime(2019, 5, 6)])
    with db.read() as conn:
        months = partitions.existing_months(conn)
        default_rows = conn.execute(text("SELECT count(*) FROM events_default")).scalar()
    assert {datetime(2019, 3, 1).date(), datetime(2019, 5, 1).date()} <= months
    assert default_rows == 0  # the import made the months' partitions first

    run = run_retention(db, settings.model_copy(update={"event_retention_days": 365}))
    assert {"events_p201903", "events_p201905"} <= set(run.dropped_partitions)
    with db.read() as conn:
        months = partitions.existing_months(conn)
        tables = set(
            conn.execute(
                text("SELECT tablename FROM pg_tables WHERE tablename LIKE 'events_p2019%'")
            ).scalars()
        )
    assert tables == set()
    today = datetime.utcnow().date()
    ahead = partitions.next_month(partitions.next_month(partitions.month_start(today)))
    assert partitions.month_start(today) in months and ahead in months
    assert _visits(api, person["id"]) == []


def test_a_partition_made_for_rows_in_the_default_one_takes_them(api: Api, db: Database) -> None:
    if db.is_sqlite:
        pytest.skip("SQLite keeps one events table")
    with db.write() as conn:
        conn.execute(
            text(
                "INSERT INTO events (person_id, definition_id, occurred_at, received_at, "
                "properties) VALUES ('p', 'x', '2001-02-03', '2001-02-03', '{}')"
            )
        )
    with db.write() as conn:
        partitions.ensure_months(conn, [datetime(2001, 2, 1).date()])
    with db.read() as conn:
        assert conn.execute(text("SELECT count(*) FROM events_default")).scalar() == 0
        assert conn.execute(text("SELECT count(*) FROM events_p200102")).scalar() == 1
    with db.write() as conn:
        conn.execute(text("DROP TABLE events_p200102"))


def test_segment_windows_longer_than_the_retention_are_refused(
    db: Database, settings: Settings
) -> None:
    short = settings.model_copy(update={"event_retention_days": 90})
    with TestClient(create_app(short, db), raise_server_exceptions=False) as client:
        api = Api(client, db)
        define_event(api, "visit")
        long_rule: dict[str, Any] = {
            "all": [{"tag": "x"}, {"event": "visit", "within": {"days": 120}}]
        }
        response = client.post(
            "/v1/segments", json={"name": "s", "rule": long_rule}, headers=api.admin
        )
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert error["code"] == "VALIDATION_ERROR"
        assert error["field"] == "rule.all.1.within.days"
        assert "retention" in error["message"]
        preview = client.post("/v1/segments/preview", json={"rule": long_rule}, headers=api.admin)
        assert preview.status_code == 400
        fits = {"event": "visit", "within": {"days": 90}}
        ok = client.post("/v1/segments", json={"name": "s", "rule": fits}, headers=api.admin)
        assert ok.status_code == 201, ok.text
